package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// One server's wire protocol, as far as the bench needs it: how to connect (optionally into
// the bench's one room), answer its keep-alives, send a chat message, and recognise the
// answer to a send.
type Proto struct {
	name string
	// the WebSocket URL of connection i
	url func(i int, room bool) string
	// frames to send right after the upgrade
	hello func(room bool) []string
	// whether the connection is usable as soon as the upgrade succeeds
	readyOnOpen func(room bool) bool
	// looks at a frame before the scenario does: answers keep-alives (handled), spots the
	// moment the connection is ready, or a refusal
	control func(c *Conn, frame []byte, room, ready bool) (handled, nowReady bool, err error)
	// one chat message into the room; seq is unique within this process
	message func(seq int, text string) []byte
	// an answer to a sent message (ack or error); false for servers that answer nothing
	isReply func(frame []byte) bool
}

type Creds struct {
	Room    string   `json:"room"`
	Tokens  []string `json:"tokens"`
	Senders []string `json:"senders"`
	Users   []struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"users"`
}

const peerRoom = "bench"

func wsBase(base string) string { return "ws" + strings.TrimPrefix(base, "http") }

var runID = strconv.FormatInt(time.Now().UnixNano(), 36)

func makeProto(name, base string, creds *Creds) (*Proto, error) {
	never := func(room bool) bool { return false }
	always := func(room bool) bool { return true }
	none := func(room bool) []string { return nil }
	switch name {
	case "parley":
		if creds == nil || len(creds.Tokens) == 0 {
			return nil, errors.New("parley needs -creds with tokens")
		}
		return &Proto{
			name: name,
			url: func(i int, room bool) string {
				u := wsBase(base) + "/ws?token=" + creds.Tokens[i%len(creds.Tokens)]
				if room {
					u += "&room_id=" + creds.Room
				}
				return u
			},
			hello:       none,
			readyOnOpen: func(room bool) bool { return !room },
			control: func(c *Conn, frame []byte, room, ready bool) (bool, bool, error) {
				if ready {
					return false, false, nil
				}
				if bytes.Contains(frame, []byte(`"of":"channel.subscribe"`)) {
					return true, true, nil
				}
				if bytes.Contains(frame, []byte(`"type":"error"`)) {
					return true, false, errors.New(string(frame))
				}
				return true, false, nil
			},
			message: func(seq int, text string) []byte {
				return fmt.Appendf(nil, `{"type":"chat.message","id":"%d","to":"%s","payload":{"text":"%s","client_msg_id":"%s-%d"}}`, seq, creds.Room, text, runID, seq)
			},
			isReply: func(frame []byte) bool {
				return bytes.Contains(frame, []byte(`"of":"chat.message"`)) || bytes.Contains(frame, []byte(`"type":"error"`))
			},
		}, nil
	case "ws":
		return &Proto{
			name:        name,
			url:         func(i int, room bool) string { return wsBase(base) + "/" },
			hello:       none,
			readyOnOpen: always,
			control: func(c *Conn, frame []byte, room, ready bool) (bool, bool, error) {
				return false, false, nil
			},
			message: func(seq int, text string) []byte { return []byte(text) },
			isReply: func(frame []byte) bool { return false },
		}, nil
	case "sio":
		return &Proto{
			name: name,
			url: func(i int, room bool) string {
				u := wsBase(base) + "/socket.io/?EIO=4&transport=websocket"
				if room {
					u += "&room=" + peerRoom
				}
				return u
			},
			hello:       none,
			readyOnOpen: never,
			control: func(c *Conn, frame []byte, room, ready bool) (bool, bool, error) {
				switch {
				case len(frame) == 1 && frame[0] == '2': // engine.io ping
					return true, false, c.Write([]byte("3"))
				case ready:
					return false, false, nil
				case bytes.HasPrefix(frame, []byte("0{")): // engine.io open: connect to namespace "/"
					return true, false, c.Write([]byte("40"))
				case bytes.HasPrefix(frame, []byte("40")):
					return true, !room, nil
				case bytes.Equal(frame, []byte(`42["joined"]`)):
					return true, true, nil
				case bytes.HasPrefix(frame, []byte("44")):
					return true, false, errors.New(string(frame))
				}
				return true, false, nil
			},
			message: func(seq int, text string) []byte { return fmt.Appendf(nil, `42["msg","%s"]`, text) },
			isReply: func(frame []byte) bool { return false },
		}, nil
	case "centrifugo":
		return &Proto{
			name: name,
			url:  func(i int, room bool) string { return wsBase(base) + "/connection/websocket" },
			hello: func(room bool) []string {
				if room {
					return []string{`{"id":1,"connect":{}}` + "\n" + `{"id":2,"subscribe":{"channel":"` + peerRoom + `"}}`}
				}
				return []string{`{"id":1,"connect":{}}`}
			},
			readyOnOpen: never,
			control: func(c *Conn, frame []byte, room, ready bool) (bool, bool, error) {
				// The server's ping is an empty command, alone or batched with pushes (newline-separated).
				if bytes.Equal(frame, []byte("{}")) {
					return true, false, c.Write([]byte("{}"))
				}
				if bytes.HasPrefix(frame, []byte("{}\n")) || bytes.Contains(frame, []byte("\n{}")) {
					if err := c.Write([]byte("{}")); err != nil {
						return true, false, err
					}
				}
				if ready {
					return false, false, nil
				}
				if bytes.Contains(frame, []byte(`"error"`)) {
					return true, false, errors.New(string(frame))
				}
				want := []byte(`"id":1,`)
				if room {
					want = []byte(`"id":2,`)
				}
				return true, bytes.Contains(frame, want), nil
			},
			message: func(seq int, text string) []byte {
				return fmt.Appendf(nil, `{"id":%d,"publish":{"channel":"%s","data":{"text":"%s"}}}`, seq+10, peerRoom, text)
			},
			isReply: func(frame []byte) bool { return bytes.HasPrefix(frame, []byte(`{"id":`)) },
		}, nil
	}
	return nil, fmt.Errorf("unknown protocol %q", name)
}

// One client connection. Frames the protocol does not handle go to OnFrame.
type Conn struct {
	ws      *websocket.Conn
	wmu     sync.Mutex
	onFrame atomic.Pointer[func([]byte)]
	closed  atomic.Bool
}

func (c *Conn) Write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

func (c *Conn) OnFrame(f func([]byte)) { c.onFrame.Store(&f) }

func (c *Conn) Close() { c.ws.Close() }

var dialer = &websocket.Dialer{
	HandshakeTimeout: 60 * time.Second,
	ReadBufferSize:   2048,
	WriteBufferSize:  1024,
	WriteBufferPool:  &sync.Pool{},
	Proxy:            http.ProxyFromEnvironment,
}

// Dial opens connection i and returns once it is ready (connected, and in the room if asked).
func Dial(p *Proto, i int, room bool) (*Conn, error) {
	ws, resp, err := dialer.Dial(p.url(i, room), nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			return nil, fmt.Errorf("%v: %d %s", err, resp.StatusCode, body)
		}
		return nil, err
	}
	c := &Conn{ws: ws}
	ready := make(chan error, 1)
	go c.readLoop(p, room, ready)
	for _, frame := range p.hello(room) {
		if err := c.Write([]byte(frame)); err != nil {
			ws.Close()
			return nil, err
		}
	}
	if err := <-ready; err != nil {
		ws.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) readLoop(p *Proto, room bool, ready chan error) {
	isReady := p.readyOnOpen(room)
	if isReady {
		ready <- nil
	}
	buf := make([]byte, 0, 512)
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			c.closed.Store(true)
			if !isReady {
				ready <- err
			}
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				c.closed.Store(true)
				if !isReady {
					ready <- err
				}
				return
			}
		}
		handled, nowReady, err := p.control(c, buf, room, isReady)
		if err != nil && !isReady {
			isReady = true
			ready <- err
			continue
		}
		if nowReady && !isReady {
			isReady = true
			ready <- nil
		}
		if !handled {
			if f := c.onFrame.Load(); f != nil {
				(*f)(buf)
			}
		}
		if cap(buf) > 64*1024 { // a large presence list once must not stay with every socket
			buf = make([]byte, 0, 512)
		}
	}
}

// OpenMany opens connections [from, to) with `workers` dialling at once.
func OpenMany(p *Proto, from, to, workers int, room bool) (conns []*Conn, failed int, firstErr string) {
	var mu sync.Mutex
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				c, err := Dial(p, i, room)
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return conns, failed, firstErr
}

func CloseAll(conns []*Conn) {
	for _, c := range conns {
		c.Close()
	}
}
