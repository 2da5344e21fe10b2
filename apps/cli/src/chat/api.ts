/**
 * The chat endpoints `parley` uses, over an authenticated session. Every answer is decoded
 * with the domain's Schemas; failures are `ApiError`s carrying the server's code and message.
 */
import { MessagePage, type MessageView, RoomList, RoomView, SearchPage } from "@parley/domain"
import type { AuthSession } from "./auth.ts"

/** What the controller needs from the server over HTTP; tests substitute a fake. */
export interface ChatApi {
  readonly joinedRooms: () => Promise<ReadonlyArray<RoomView>>
  readonly publicRooms: () => Promise<ReadonlyArray<RoomView>>
  readonly createRoom: (name: string, visibility: "public" | "private") => Promise<RoomView>
  readonly joinRoom: (roomId: string) => Promise<RoomView>
  /** The direct room with `username`, made the first time; the same room for both users. */
  readonly openDirect: (username: string) => Promise<RoomView>
  readonly leaveRoom: (roomId: string) => Promise<void>
  /** Newest first, at most `limit`, strictly older than `before` when given. */
  readonly messagesBefore: (roomId: string, limit: number, before?: string) => Promise<ReadonlyArray<MessageView>>
  /** Messages holding every word, newest first: in `roomId`, or in every joined room. */
  readonly search: (words: string, roomId?: string) => Promise<SearchPage>
}

/** Results `/search` shows: one page, newest first. */
const searchResults = 20

/** Rooms pages are walked to the end, up to this many rooms. */
const maxRooms = 1000

export const httpChatApi = (auth: AuthSession): ChatApi => {
  const listRooms = async (scope: "joined" | "public") => {
    const rooms: Array<RoomView> = []
    let cursor: string | undefined
    do {
      const page = await auth.call("/api/chat/rooms", { query: { scope, limit: 100, cursor }, schema: RoomList })
      rooms.push(...page.rooms)
      cursor = page.next_cursor ?? undefined
    } while (cursor !== undefined && rooms.length < maxRooms)
    return rooms
  }
  const room = (id: string) => `/api/chat/rooms/${encodeURIComponent(id)}`
  return {
    joinedRooms: () => listRooms("joined"),
    publicRooms: () => listRooms("public"),
    createRoom: (name, visibility) =>
      auth.call("/api/chat/rooms", { method: "POST", body: { name, visibility }, schema: RoomView }),
    joinRoom: (roomId) => auth.call(`${room(roomId)}/join`, { method: "POST", schema: RoomView }),
    openDirect: (username) => auth.call("/api/chat/direct", { method: "POST", body: { username }, schema: RoomView }),
    leaveRoom: async (roomId) => {
      await auth.call(`${room(roomId)}/leave`, { method: "POST" })
    },
    messagesBefore: async (roomId, limit, before) =>
      (await auth.call(`${room(roomId)}/messages`, { query: { limit, before }, schema: MessagePage })).messages,
    search: (words, roomId) =>
      auth.call("/api/chat/search", { query: { q: words, room_id: roomId, limit: searchResults }, schema: SearchPage })
  }
}
