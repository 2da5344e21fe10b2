/**
 * The rules of edits and deletes, checked by the room's actor against the target as it holds
 * it (the only writer of the room, so nothing changes the target between check and write):
 * the target is a message of this room, not deleted; only its author edits it; its author,
 * the room's owner or admins, or a site admin delete it. A refusal is typed for its sender.
 */
import { Forbidden, type MessageId, NotFound, type UserId } from "@parley/domain"
import { applyChange, type MessageRecord } from "@parley/storage"

/** An edit or delete, as a send carries it instead of a message. */
export interface Change {
  readonly kind: "edit" | "delete"
  readonly targetId: MessageId
  /** The sender may delete others' messages: the room's owner or an admin, or a site admin. */
  readonly moderator: boolean
}

export type ChangeRefused = NotFound | Forbidden

const notFound = (message: string) => new NotFound({ error: { code: "not_found", message } })
const forbidden = (message: string) => new Forbidden({ error: { code: "forbidden", message } })

/** Why `sender` may not make `change` to `target` (undefined: not a row of this room), if not. */
export const refusal = (
  target: MessageRecord | undefined,
  sender: UserId,
  change: Change
): ChangeRefused | undefined => {
  if (target === undefined) return notFound("no such message in this room")
  if (target.kind !== "message") return notFound("not a message: edits and deletes cannot be changed")
  if (target.deletedBy !== null) return notFound("the message was deleted")
  if (change.kind === "edit" && target.userId !== sender) return forbidden("only its author edits a message")
  if (change.kind === "delete" && target.userId !== sender && !change.moderator) {
    return forbidden("only its author, the room's owner or admins, or a site admin delete a message")
  }
  return undefined
}

/**
 * How many messages an actor holds for checking changes without a read (newest kept): people
 * edit what they just sent; older targets cost one read. Kept small: every active room holds them.
 */
const heldKept = 256

/**
 * The messages an actor stored or changed recently, in their current state: a change to one
 * of them is checked without a read, and a message sent earlier in the same batch can be
 * edited. Cleared by every claim: another owner may have changed them meanwhile.
 */
export const heldMessages = () => {
  const held = new Map<MessageId, MessageRecord>()
  return {
    get: (id: MessageId) => held.get(id),
    clear: () => held.clear(),
    keep: (records: Iterable<MessageRecord>) => {
      for (const m of records) {
        held.delete(m.id)
        held.set(m.id, m)
      }
      while (held.size > heldKept) held.delete(held.keys().next().value!)
    }
  }
}

/** The target after `change` (an edit or delete record), keeping where storage holds it. */
export const changed = (target: MessageRecord, change: MessageRecord): MessageRecord => ({
  ...applyChange(target, change),
  partition: target.partition
})
