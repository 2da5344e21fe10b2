/**
 * Edits and deletes as the terminal shows them. They arrive as entries of the room's stream
 * (`chat.message` with `kind` edit/delete and `target_id`); the screen applies each to the
 * message it changes. The log is printed once and never redrawn, so a change prints a new
 * line: the message again in its new state, `(edited)` or `message deleted`.
 */
import type { MessageView } from "@parley/domain"

/** `target` after `change`, an edit or delete of it, as history would show it now. */
export const applyChange = (target: MessageView, change: MessageView): MessageView =>
  change.kind === "delete"
    ? { ...target, text: "", deleted_by: change.user_id }
    : { ...target, text: change.text, edited_at: change.created_at }

/** What a change says when its message is not on screen (older than what was loaded). */
export const changeNote = (change: MessageView) =>
  change.kind === "delete"
    ? `${change.username} deleted an older message`
    : `${change.username} edited an older message: ${change.text}`

/** How a message's text shows: a tombstone once deleted, marked when edited. */
export const shownText = (message: MessageView) =>
  message.deleted_by !== null
    ? "message deleted"
    : message.edited_at !== null
      ? `${message.text} (edited)`
      : message.text
