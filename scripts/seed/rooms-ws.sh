#!/usr/bin/env bash
# The seed's "Handy Command Reference" for Rooms & Messages and WebSocket, with the wscat
# recipe of its §11 that the WebSocket entry stands for, as written there (with {{ }} read
# as { }), against a running Parley. PARLEY_URL overrides http://localhost:8080.
# Each command's result is checked; the last line is "N passed, N failed".
#
# wscat is npm's (a dev dependency of the repo root). It reads what to send from its
# terminal; here the two clients get a stdin that never delivers a line and never ends,
# the messages to send are passed with -x, and nothing ever waits for input.
set -u
URL=${PARLEY_URL:-http://localhost:8080}
WS_URL=ws${URL#http}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
command -v wscat >/dev/null || PATH="$ROOT/node_modules/.bin:$PATH"
# The commands below keep the seed's literal URLs; these point them at PARLEY_URL.
curl() {
  local args=() a
  for a in "$@"; do args+=("${a//http:\/\/localhost:8080/$URL}"); done
  command curl "${args[@]}"
}
wscat() { # bounded, so that a client that never closes cannot hang the script
  local args=() a
  for a in "$@"; do args+=("${a//ws:\/\/localhost:8080/$WS_URL}"); done
  if command -v timeout >/dev/null; then timeout 30 wscat "${args[@]}"; else command wscat "${args[@]}"; fi
}
passed=0 failed=0
expect() { # expect <description> <command output> <pattern>
  if grep -qE "$3" <<<"$2"; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); echo "FAIL $1"; echo "$2" | sed 's/^/     /' | head -20; fi
}
refute() { # refute <description> <command output> <pattern>
  if ! grep -qE "$3" <<<"$2"; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); echo "FAIL $1"; echo "$2" | sed 's/^/     /' | head -20; fi
}
json() { # json <python expression over `d`, the JSON on stdin>: prints it, or nothing
  python3 -c "import sys,json; d=json.load(sys.stdin); print($1)" 2>/dev/null
}
TIMEUUID='[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'

WORK=$(mktemp -d)
B_PID=
cleanup() {
  exec 3>&-
  [ -n "$B_PID" ] && kill "$B_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# Signed in as in the seed's Auth commands (bob may exist already: signing up again is a 409).
expect "signup (or already signed up)" "$(curl -i -X POST http://localhost:8080/signup -H "Content-Type: application/json" -d '{"username":"bob","email":"bob@example.com","password":"secret12"}' 2>/dev/null)" "^HTTP/1.1 (201|409)"
LOGIN_RES=$(curl -s -X POST http://localhost:8080/login -H "Content-Type: application/json" -d '{"email_or_username":"bob","password":"secret12"}')
ACCESS=$(echo "$LOGIN_RES"  | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
expect "login gives an access token" "$ACCESS" "^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"

# Rooms & Messages:
CREATE_RES=$(curl -s -i -X POST http://localhost:8080/api/chat/rooms -H "Authorization: Bearer $ACCESS" -H "Content-Type: application/json" -d '{"name":"general"}')
ROOM_ID=$(echo "$CREATE_RES" | sed -n 's/.*"room_id":"\([^"]*\)".*/\1/p')
expect "create room" "$CREATE_RES" "^HTTP/1.1 201"
expect "create room: public, named general, owned by the caller" "$CREATE_RES" '"name":"general","visibility":"public".*"role":"owner"'
expect "ROOM_ID from the create response" "$ROOM_ID" "^$TIMEUUID$"
POST_RES=$(curl -i -X POST "http://localhost:8080/api/chat/rooms/$ROOM_ID/messages" -H "Authorization: Bearer $ACCESS" -H "Content-Type: application/json" -d '{"content":"hello world"}' 2>/dev/null)
expect "post message" "$POST_RES" "^HTTP/1.1 201"
expect "post message returns it stored, first in the room" "$POST_RES" "\"room_id\":\"$ROOM_ID\",\"msg_id\":\"$TIMEUUID\",\"seq\":1,.*\"text\":\"hello world\""
HISTORY_RES=$(curl -i "http://localhost:8080/api/chat/rooms/$ROOM_ID/messages?limit=2" -H "Authorization: Bearer $ACCESS" 2>/dev/null)
expect "history" "$HISTORY_RES" "^HTTP/1.1 200"
expect "history holds the message" "$HISTORY_RES" '"messages":\[\{[^]]*"text":"hello world"[^]]*\}\],"next_cursor":null'

# WebSocket (the recipe of the seed's §11: TOKEN=$(...) ; USER_ID=$(...) ; ROOM_ID=$(...)):
TOKEN=$ACCESS
USER_ID=$(curl -s http://localhost:8080/api/me -H "Authorization: Bearer $TOKEN" | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
expect "USER_ID from /api/me" "$USER_ID" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'

# Their terminal: a FIFO this script holds open for writing and never writes to.
mkfifo "$WORK/terminal"
exec 3<>"$WORK/terminal"

# Terminal B: listens, auto-subscribed to the room by ?room_id=.
wscat -c "ws://localhost:8080/ws?token=$ACCESS&room_id=$ROOM_ID" <"$WORK/terminal" >"$WORK/b.out" 2>&1 3>&- &
B_PID=$!
# B is subscribed once the room's presence reaches it.
for _ in $(seq 100); do grep -q '"type":"presence"' "$WORK/b.out" && break; sleep 0.1; done

# Terminal A: sends the seed's two lines (placeholders replaced by the real UUIDs), then
# closes after wscat's default 2 s wait.
A_OUT=$(wscat -c "ws://localhost:8080/ws?token=$ACCESS&room_id=$ROOM_ID" \
  -x "{\"type\":\"channel.subscribe\",\"from\":\"$USER_ID\",\"to\":\"$ROOM_ID\"}" \
  -x "{\"type\":\"chat.message\",\"from\":\"$USER_ID\",\"to\":\"$ROOM_ID\",\"payload\":{\"text\":\"hello from ws\"}}" \
  <"$WORK/terminal" 2>&1 3>&-)
expect "wscat A: channel.subscribe acknowledged" "$A_OUT" "\"type\":\"ack\",\"payload\":\\{\"of\":\"channel.subscribe\",\"room_id\":\"$ROOM_ID\"\\}"
expect "wscat A: chat.message acknowledged once stored" "$A_OUT" "\"type\":\"ack\",\"payload\":\\{\"of\":\"chat.message\",\"room_id\":\"$ROOM_ID\",\"msg_id\":\"$TIMEUUID\",\"seq\":2\\}"
refute "wscat A: no error event" "$A_OUT" '"type":"error"'
MSG_ID=$(grep '"of":"chat.message"' <<<"$A_OUT" | head -1 | json 'd["payload"]["msg_id"]')

for _ in $(seq 100); do grep -q 'hello from ws' "$WORK/b.out" && break; sleep 0.1; done
exec 3>&- # end of B's input: wscat closes the connection and exits
wait "$B_PID" 2>/dev/null
B_PID=
B_OUT=$(cat "$WORK/b.out")
expect "wscat B receives the message A sent" "$B_OUT" "^\\{\"type\":\"chat.message\",\"payload\":\\{\"room_id\":\"$ROOM_ID\",\"msg_id\":\"${MSG_ID:-none}\",\"seq\":2,\"user_id\":\"$USER_ID\",\"username\":\"bob\",\"text\":\"hello from ws\""
refute "wscat B: no error event" "$B_OUT" '"type":"error"'

# Verify persistence:
LATEST=$(curl -s "http://localhost:8080/api/chat/rooms/$ROOM_ID/messages?limit=1" -H "Authorization: Bearer $TOKEN")
expect "message persisted" "$LATEST" "^\\{\"messages\":\\[\\{\"room_id\":\"$ROOM_ID\",\"msg_id\":\"${MSG_ID:-none}\",\"seq\":2,\"user_id\":\"$USER_ID\",\"username\":\"bob\",\"text\":\"hello from ws\""
expect "message persisted: the next page holds the HTTP message" "$(curl -s "http://localhost:8080/api/chat/rooms/$ROOM_ID/messages?limit=1&before=$(json 'd["next_cursor"]' <<<"$LATEST")" -H "Authorization: Bearer $TOKEN")" '"seq":1,.*"text":"hello world".*"next_cursor":null'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
