package main

import "strings"

// Chat-like text: words of a small vocabulary, so that a server that indexes what it stores
// (Parley's search) pays for real words, not for one 200-letter token.
var vocabulary = strings.Fields(`the a to and of in is it you that for on are with this be have
not at was but we they what so can all just if do about one my me will your like there out up
meeting today tomorrow deploy release review lunch coffee build test fix bug ticket call later
thanks sounds good great idea please check merged ready done update room team project`)

// chatText returns size bytes of words, chosen by n (the same n gives the same text).
func chatText(size int, n int) string {
	var b strings.Builder
	b.Grow(size + 16)
	x := uint32(n)*2654435761 + 1
	for b.Len() < size {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteString(vocabulary[x%uint32(len(vocabulary))])
	}
	return b.String()[:size]
}
