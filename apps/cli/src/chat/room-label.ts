import type { RoomView } from "@parley/domain"

/**
 * How `parley` names a room: `@bob` for a direct room (the server names it by the other user),
 * `#general` for any other. Raw text from the server: pass it through `safeText` to show it.
 */
export const roomLabel = (room: Pick<RoomView, "kind" | "name">) => `${room.kind === "direct" ? "@" : "#"}${room.name}`
