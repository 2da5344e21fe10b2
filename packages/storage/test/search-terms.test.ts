import { describe, expect, it } from "vitest"
import {
  addMessageTerms,
  matchesAll,
  maxTermLength,
  maxTermsPerMessage,
  messageTerms,
  queryTerms,
  words
} from "../src/search-terms.ts"

describe("search terms", () => {
  it("folds case, accents and compatibility forms; splits on anything but letters and digits", () => {
    expect(words("Crème BRÛLÉE, s'il-vous-plaît… ﬁn 2ème")).toEqual([
      "creme",
      "brulee",
      "s",
      "il",
      "vous",
      "plait",
      "fin",
      "2eme"
    ])
    // A decomposed accent is the same word as a precomposed one.
    expect(words("Cafe\u0301")).toEqual(words("Café"))
    expect(words("Ελληνικά Кириллица 東京")).toEqual(["ελληνικα", "кириллица", "東京"])
    expect(words(" ... !? 😀 ")).toEqual([])
  })

  it("cuts long words and caps the distinct words a message is indexed under", () => {
    const long = "x".repeat(maxTermLength + 10)
    expect(words(long)).toEqual(["x".repeat(maxTermLength)])
    const many = Array.from({ length: maxTermsPerMessage + 50 }, (_, i) => `w${i}`)
    expect(messageTerms([...many, ...many].join(" "))).toEqual(many.slice(0, maxTermsPerMessage))
  })

  it("a group commit's words are its messages' indexed words, the cap kept per message", () => {
    const many = Array.from({ length: maxTermsPerMessage + 50 }, (_, i) => `w${i}`).join(" ")
    const texts = ["Deploy deploy FRIDAY", many, "w220 friday Café"]
    const into = new Set<string>()
    for (const text of texts) addMessageTerms(into, text)
    expect([...into]).toEqual([...new Set(texts.flatMap(messageTerms))])
    // The long text's words past the cap are not among them; the last text's own are.
    expect(into.has("w249")).toBe(false)
    expect(into.has("w220")).toBe(true)
  })

  it("a query's words are distinct; a text matches when it holds every one, whole", () => {
    expect(queryTerms("Deploy deploy DÉPLOY friday")).toEqual(["deploy", "friday"])
    expect(matchesAll("We deploy on Friday!", queryTerms("friday DEPLOY"))).toBe(true)
    expect(matchesAll("We deploy on Friday!", queryTerms("friday deployed"))).toBe(false)
    expect(matchesAll("redeploy friday", queryTerms("deploy"))).toBe(false)
  })
})
