#!/usr/bin/env bash
# The seed's "Handy Command Reference" for Health and Auth, as written there (with
# {{ }} read as { }), against a running Parley. PARLEY_URL overrides http://localhost:8080.
# Each command's result is checked; the last line is "N passed, N failed".
set -u
URL=${PARLEY_URL:-http://localhost:8080}
# The commands below keep the seed's literal URL; this points them at PARLEY_URL.
curl() {
  local args=() a
  for a in "$@"; do args+=("${a//http:\/\/localhost:8080/$URL}"); done
  command curl "${args[@]}"
}
passed=0 failed=0
expect() { # expect <description> <command output> <pattern>
  if grep -qE "$3" <<<"$2"; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); echo "FAIL $1"; echo "$2" | sed 's/^/     /' | head -20; fi
}

# Health:
expect "healthz" "$(curl -i http://localhost:8080/healthz 2>/dev/null)" "^HTTP/1.1 200"
expect "readyz" "$(curl -i http://localhost:8080/readyz 2>/dev/null)" "^HTTP/1.1 200"

# Auth:
expect "signup" "$(curl -i -X POST http://localhost:8080/signup -H "Content-Type: application/json" -d '{"username":"bob","email":"bob@example.com","password":"secret12"}' 2>/dev/null)" "^HTTP/1.1 201"
LOGIN_RES=$(curl -s -X POST http://localhost:8080/login -H "Content-Type: application/json" -d '{"email_or_username":"bob","password":"secret12"}')
ACCESS=$(echo "$LOGIN_RES"  | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
REFRESH=$(echo "$LOGIN_RES" | python3 -c 'import sys,json; print(json.load(sys.stdin)["refresh_token"])')
expect "login gives an access token" "$ACCESS" "^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
expect "login gives a refresh token" "$REFRESH" "^[A-Za-z0-9_-]{43}$"
expect "me" "$(curl -i http://localhost:8080/api/me -H "Authorization: Bearer $ACCESS" 2>/dev/null)" '"username":"bob"'
NEW=$(curl -s -X POST http://localhost:8080/api/refresh -H "Authorization: Bearer $ACCESS" -H "Content-Type: application/json" -d "{\"refresh_token\":\"$REFRESH\"}")
expect "refresh rotates" "$NEW" '"refresh_token":"[A-Za-z0-9_-]{43}"'
expect "logout" "$(curl -i -X POST http://localhost:8080/api/logout -H "Authorization: Bearer $ACCESS" -H "Content-Type: application/json" -d "{\"refresh_token\":\"$REFRESH\"}" 2>/dev/null)" "^HTTP/1.1 204"

# After logout the session is gone: neither token of it refreshes any more.
NEW_REFRESH=$(echo "$NEW" | python3 -c 'import sys,json; print(json.load(sys.stdin)["refresh_token"])')
expect "refresh after logout is refused" "$(curl -i -X POST http://localhost:8080/api/refresh -H "Content-Type: application/json" -d "{\"refresh_token\":\"$NEW_REFRESH\"}" 2>/dev/null)" "^HTTP/1.1 401"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
