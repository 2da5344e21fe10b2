/**
 * The SQLite schema: the embedded equivalent of `cql/`. Append-only, applied in
 * order, each recorded in `schema_migrations`.
 */
export const migrations: ReadonlyArray<{ readonly version: number; readonly name: string; readonly sql: string }> = [
  {
    version: 1,
    name: "accounts",
    sql: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        username_key TEXT NOT NULL UNIQUE,
        email TEXT NOT NULL,
        email_key TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        current_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0,
        user_agent TEXT,
        ip TEXT
      );
      CREATE INDEX sessions_by_user ON sessions(user_id);
      CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        user_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
    `
  },
  {
    version: 2,
    name: "chat",
    // *_key columns hold timeUuidKey(id): TIMEUUIDs do not sort as text, their keys do.
    // Membership and messages carry no foreign key to users (nor messages to rooms), so the
    // backends agree: Cassandra cannot check either.
    sql: `
      CREATE TABLE rooms (
        room_id TEXT PRIMARY KEY,
        room_key TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        visibility TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX public_rooms ON rooms(room_key) WHERE visibility = 'public';
      CREATE TABLE room_members (
        room_id TEXT NOT NULL REFERENCES rooms(room_id) ON DELETE CASCADE,
        user_id TEXT NOT NULL,
        room_key TEXT NOT NULL,
        role TEXT NOT NULL,
        joined_at INTEGER NOT NULL,
        PRIMARY KEY (room_id, user_id)
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX rooms_by_user ON room_members(user_id, room_key);
      CREATE TABLE room_messages (
        room_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        msg_id TEXT NOT NULL,
        msg_key TEXT NOT NULL,
        user_id TEXT NOT NULL,
        username TEXT NOT NULL,
        content TEXT NOT NULL,
        client_msg_id TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (room_id, seq)
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX room_messages_by_id ON room_messages(room_id, msg_key);
      CREATE UNIQUE INDEX room_messages_by_client_id ON room_messages(room_id, user_id, client_msg_id)
        WHERE client_msg_id IS NOT NULL;
    `
  },
  {
    version: 3,
    name: "admin",
    // Users are listed through the unique index on username_key; rooms through room_key.
    // created_at is indexed for "messages stored today". Audit entries sort by id_key,
    // their TIMEUUID's timeUuidKey, like messages.
    sql: `
      ALTER TABLE rooms ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX room_messages_by_time ON room_messages(created_at);
      CREATE TABLE audit_log (
        id_key TEXT PRIMARY KEY,
        id TEXT NOT NULL,
        at INTEGER NOT NULL,
        actor_id TEXT,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target_type TEXT NOT NULL,
        target_id TEXT NOT NULL,
        detail TEXT,
        request_id TEXT
      ) WITHOUT ROWID;
    `
  },
  {
    version: 4,
    name: "fencing",
    // A room's head: its newest stored seq and its owner epoch, checked and moved by every
    // append in the append's own transaction (see messages.ts). Rooms written before this
    // start at their newest seq and epoch 0, so their next claim takes them over.
    sql: `
      CREATE TABLE room_heads (
        room_id TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL,
        epoch INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO room_heads (room_id, last_seq, epoch)
        SELECT room_id, MAX(seq), 0 FROM room_messages GROUP BY room_id;
    `
  },
  {
    version: 5,
    name: "refresh_grace",
    // A session's latest rotation: the hash it replaced and when, so that a client retrying
    // the same refresh within REFRESH_REUSE_GRACE gets the same new pair instead of being
    // taken for a thief (Accounts.refresh). Null until the session first rotates.
    sql: `
      ALTER TABLE sessions ADD COLUMN previous_hash TEXT;
      ALTER TABLE sessions ADD COLUMN rotated_at INTEGER;
    `
  },
  {
    version: 6,
    name: "edits",
    // Edits and deletes are rows of the room's stream (kind 'edit' / 'delete', target_id the
    // message they change), stored by the same append as messages. That append also updates
    // the target's row in the same transaction: content and edited_at, or content '' and
    // deleted_by. Existing rows are messages, never edited.
    sql: `
      ALTER TABLE room_messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'message';
      ALTER TABLE room_messages ADD COLUMN target_id TEXT;
      ALTER TABLE room_messages ADD COLUMN edited_at INTEGER;
      ALTER TABLE room_messages ADD COLUMN deleted_by TEXT;
    `
  },
  {
    version: 8,
    name: "read_markers",
    // A member's read marker: the last seq of the room they have read, on their membership row
    // (so listing one's rooms reads it for free, and leaving the room drops it). It only moves
    // forward: Rooms.markRead updates it only WHERE read_seq < the new one. 0 = nothing read yet.
    sql: `
      ALTER TABLE room_members ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0;
    `
  },
  {
    version: 9,
    name: "direct_rooms",
    // A direct room is a private room whose row names its two users, lower user id first,
    // with their usernames (each sees the room named by the other). The unique index is the
    // pair's one room: a second create for the pair, from either side, finds it instead.
    sql: `
      ALTER TABLE rooms ADD COLUMN direct_low TEXT;
      ALTER TABLE rooms ADD COLUMN direct_low_name TEXT;
      ALTER TABLE rooms ADD COLUMN direct_high TEXT;
      ALTER TABLE rooms ADD COLUMN direct_high_name TEXT;
      CREATE UNIQUE INDEX direct_rooms ON rooms(direct_low, direct_high) WHERE direct_low IS NOT NULL;
    `
  },
  {
    version: 7,
    name: "search",
    // Word search (MessageSearch, sqlite/search.ts): an FTS5 index of the messages' current
    // text. room_messages is WITHOUT ROWID, so message_search_docs gives each indexed message
    // an integer id (the FTS row's rowid) and keeps its (room_id, msg_key) for the room filter,
    // the cursor and the join back. Triggers keep both in step with room_messages inside the
    // statement's own transaction: only messages are indexed (kind 'message', not deleted); an
    // edit's update of its target re-indexes it under the new text, a delete's removes it, and
    // a room's deletion takes its entries with it. Contentless (content=''): the text is stored
    // once, in room_messages. The tokenizer folds case and diacritics like search-terms.ts.
    sql: `
      CREATE VIRTUAL TABLE message_search USING fts5(
        content, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
      );
      CREATE TABLE message_search_docs (
        doc INTEGER PRIMARY KEY,
        room_id TEXT NOT NULL,
        msg_key TEXT NOT NULL
      );
      CREATE UNIQUE INDEX message_search_docs_by_key ON message_search_docs(room_id, msg_key);
      CREATE TRIGGER message_search_insert AFTER INSERT ON room_messages
        WHEN NEW.kind = 'message' AND NEW.deleted_by IS NULL
      BEGIN
        INSERT INTO message_search_docs (room_id, msg_key) VALUES (NEW.room_id, NEW.msg_key);
        INSERT INTO message_search (rowid, content) VALUES (last_insert_rowid(), NEW.content);
      END;
      CREATE TRIGGER message_search_update AFTER UPDATE OF content, kind, deleted_by ON room_messages
      BEGIN
        DELETE FROM message_search WHERE rowid IN
          (SELECT doc FROM message_search_docs WHERE room_id = OLD.room_id AND msg_key = OLD.msg_key);
        DELETE FROM message_search_docs WHERE room_id = OLD.room_id AND msg_key = OLD.msg_key;
        INSERT INTO message_search_docs (room_id, msg_key)
          SELECT NEW.room_id, NEW.msg_key WHERE NEW.kind = 'message' AND NEW.deleted_by IS NULL;
        INSERT INTO message_search (rowid, content)
          SELECT doc, NEW.content FROM message_search_docs WHERE room_id = NEW.room_id AND msg_key = NEW.msg_key;
      END;
      CREATE TRIGGER message_search_delete AFTER DELETE ON room_messages
      BEGIN
        DELETE FROM message_search WHERE rowid IN
          (SELECT doc FROM message_search_docs WHERE room_id = OLD.room_id AND msg_key = OLD.msg_key);
        DELETE FROM message_search_docs WHERE room_id = OLD.room_id AND msg_key = OLD.msg_key;
      END;
      INSERT INTO message_search_docs (room_id, msg_key)
        SELECT room_id, msg_key FROM room_messages WHERE kind = 'message' AND deleted_by IS NULL;
      INSERT INTO message_search (rowid, content)
        SELECT d.doc, m.content FROM message_search_docs d
        JOIN room_messages m ON m.room_id = d.room_id AND m.msg_key = d.msg_key;
    `
  },
  {
    version: 10,
    name: "search_insert_in_append",
    // A new message is indexed by the append itself (sqlite/messages.ts), with the same two
    // statements in the same transaction: through the trigger they cost twice as much, and
    // the index was half of an append's time (about 100 µs of a 16-message batch's 200 per
    // message, measured on node:sqlite). Edits and deletes keep their triggers: they are rare.
    sql: `
      DROP TRIGGER message_search_insert;
    `
  },
  {
    version: 11,
    name: "search_index_after_commit",
    // A new message's words go into the index after its commit, many messages at a time
    // (search-pending.ts): FTS5 writes a segment per transaction and merges its segments inside
    // the commit that crosses a threshold, so one send's commit in 64 or so carried 13-27 ms of
    // merging on a large index (BENCHMARKS.md). The append records the message's document as
    // pending, in its own transaction; search indexes what is pending before it reads. An edit
    // or delete of a pending message drops it from the pending list (its trigger indexes the
    // new text itself) and removes from the index only what is in it.
    sql: `
      CREATE TABLE message_search_pending (doc INTEGER PRIMARY KEY);
      DROP TRIGGER message_search_update;
      CREATE TRIGGER message_search_update AFTER UPDATE OF content, kind, deleted_by ON room_messages
      BEGIN
        DELETE FROM message_search WHERE rowid IN
          (SELECT doc FROM message_search_docs WHERE room_id = OLD.room_id AND msg_key = OLD.msg_key
            AND doc NOT IN (SELECT doc FROM message_search_pending));
        DELETE FROM message_search_pending WHERE doc IN
          (SELECT doc FROM message_search_docs WHERE room_id = OLD.room_id AND msg_key = OLD.msg_key);
        DELETE FROM message_search_docs WHERE room_id = OLD.room_id AND msg_key = OLD.msg_key;
        INSERT INTO message_search_docs (room_id, msg_key)
          SELECT NEW.room_id, NEW.msg_key WHERE NEW.kind = 'message' AND NEW.deleted_by IS NULL;
        INSERT INTO message_search (rowid, content)
          SELECT doc, NEW.content FROM message_search_docs WHERE room_id = NEW.room_id AND msg_key = NEW.msg_key;
      END;
      DROP TRIGGER message_search_delete;
      CREATE TRIGGER message_search_delete AFTER DELETE ON room_messages
      BEGIN
        DELETE FROM message_search WHERE rowid IN
          (SELECT doc FROM message_search_docs WHERE room_id = OLD.room_id AND msg_key = OLD.msg_key
            AND doc NOT IN (SELECT doc FROM message_search_pending));
        DELETE FROM message_search_pending WHERE doc IN
          (SELECT doc FROM message_search_docs WHERE room_id = OLD.room_id AND msg_key = OLD.msg_key);
        DELETE FROM message_search_docs WHERE room_id = OLD.room_id AND msg_key = OLD.msg_key;
      END;
    `
  }
]
