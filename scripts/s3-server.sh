#!/usr/bin/env bash
# A throwaway S3 server for the tests: a single-node Ceph cluster (one monitor, one in-memory
# OSD) plus the RADOS gateway, on free loopback ports, everything under one scratch directory.
# Recipe: ../shared/docs/s3-test-server.md (verified on Debian 12, Ceph 16.2.15).
#
#   scripts/s3-server.sh start [DIR]   boot; prints env lines on stdout and writes DIR/env
#   scripts/s3-server.sh env DIR       print the env lines of a running server
#   scripts/s3-server.sh stop DIR      kill the daemons by their pid files, remove DIR
#
# Progress and failures go to stderr; on failure the daemons' logs are shown and everything
# started so far is stopped again.
set -euo pipefail

PACKAGES="radosgw ceph-mon ceph-osd"
BINARIES="ceph ceph-mon ceph-osd ceph-authtool monmaptool radosgw radosgw-admin"
STEP_TIMEOUT="${STATEKEEPER_S3_SERVER_TIMEOUT:-60}"
BUCKET="statekeeper-test"
REGION="us-east-1"

say() { echo "s3-server: $*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}

usage() {
  echo "usage: $0 start [DIR] | env DIR | stop DIR" >&2
  exit 2
}

ensure_binaries() {
  local missing=""
  for b in $BINARIES; do command -v "$b" >/dev/null 2>&1 || missing="$missing $b"; done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" = "0" ]; then
    say "missing:$missing — installing the Debian packages ($PACKAGES)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2 || die "apt-get update failed"
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $PACKAGES >&2 || die "apt-get install $PACKAGES failed"
    for b in $BINARIES; do command -v "$b" >/dev/null 2>&1 || die "$b still missing after install"; done
  else
    say "missing:$missing"
    say "install them with:  sudo apt-get update && sudo apt-get install -y --no-install-recommends $PACKAGES"
    exit 1
  fi
}

free_port() {
  node -e 'const s=require("node:net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

random_hex() { # bytes
  node -e 'console.log(require("node:crypto").randomBytes(Number(process.argv[1])).toString("hex"))' "$1"
}

show_logs() {
  local dir="$1"
  for f in "$dir"/log/*.log "$dir"/log/*.out; do
    [ -s "$f" ] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 40 "$f" >&2
  done
}

kill_daemons() {
  local dir="$1" pid pids=""
  for f in "$dir"/run/*.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill "$pid" 2>/dev/null && pids="$pids $pid"
  done
  for _ in $(seq 1 50); do
    local alive=""
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
    [ -z "$alive" ] && return 0
    sleep 0.1
  done
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
}

# Runs a step with a deadline; on failure names the step, shows the logs and cleans up.
step() { # description command...
  local what="$1"
  shift
  if ! timeout "$STEP_TIMEOUT" "$@" >>"$DIR/log/steps.out" 2>&1; then
    fail "$what failed or timed out after ${STEP_TIMEOUT}s"
  fi
}

fail() {
  trap - EXIT
  say "ERROR: $*"
  show_logs "$DIR"
  kill_daemons "$DIR"
  if [ -n "${STATEKEEPER_S3_SERVER_KEEP:-}" ]; then say "kept $DIR for inspection"; else rm -rf "$DIR"; fi
  exit 1
}

wait_for() { # description seconds command...
  local what="$1" seconds="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && fail "timed out after ${seconds}s waiting for $what"
    sleep 0.2
  done
}

write_config() {
  local fsid="$1" monport="$2" rgwport="$3"
  cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = 127.0.0.1:$monport
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon max pg per osd = 2000
osd objectstore = memstore
memstore device bytes = 1073741824
osd crush chooseleaf type = 0
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
pid file = $DIR/run/\$name.pid
keyring = $DIR/keyring
osd data = $DIR/osd
mon data = $DIR/mon
mon cluster log file = $DIR/log/cluster.log
# Without cephx the only mode is crc; radosgw otherwise insists on "secure" towards the monitor
# and never connects (get_initial_auth_request returned -13).
ms mon client mode = crc
[client.rgw]
# tcp_nodelay: without it, responses with a body (GET, and every 4xx error) wait ~40 ms for a
# delayed ACK (Nagle), which made a 412-heavy test 20x slower.
rgw frontends = beast endpoint=127.0.0.1:$rgwport tcp_nodelay=1
rgw data = $DIR/rgw
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = testkey-1=$(head -c 32 /dev/urandom | base64 -w0) testkey-2=$(head -c 32 /dev/urandom | base64 -w0)
rgw crypt require ssl = false
EOF
}

start() {
  ensure_binaries
  if [ -z "${DIR:-}" ]; then
    DIR="$(mktemp -d "${TMPDIR:-/tmp}/statekeeper-s3.XXXXXX")"
  else
    [ -e "$DIR/env" ] && die "$DIR already holds a server (stop it first)"
    mkdir -p "$DIR"
  fi
  DIR="$(cd "$DIR" && pwd)"
  # Any unexpected exit (set -e) still shows the logs and stops what was started.
  trap 'rc=$?; [ "$rc" = 0 ] || fail "unexpected exit (status $rc)"' EXIT
  mkdir -p "$DIR/run" "$DIR/log" "$DIR/osd" "$DIR/mon" "$DIR/rgw"
  say "booting Ceph + RGW under $DIR"

  local fsid monport rgwport ak sk
  fsid="$(uuidgen)"
  monport="$(free_port)"
  rgwport="$(free_port)"
  [ "$monport" != "$rgwport" ] || rgwport="$(free_port)"
  write_config "$fsid" "$monport" "$rgwport"
  local C=(-c "$DIR/ceph.conf")

  step "creating the keyring" ceph-authtool "${C[@]}" --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *'
  step "creating the monmap" monmaptool "${C[@]}" --create --add a "127.0.0.1:$monport" --fsid "$fsid" "$DIR/monmap"
  step "ceph-mon --mkfs" ceph-mon "${C[@]}" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring"
  step "starting ceph-mon" ceph-mon "${C[@]}" -i a
  local osd_id
  osd_id="$(timeout "$STEP_TIMEOUT" ceph "${C[@]}" --connect-timeout 30 osd create 2>>"$DIR/log/steps.out")" ||
    fail "ceph osd create failed or timed out (is the monitor up?)"
  step "ceph-osd --mkfs" ceph-osd "${C[@]}" -i "$osd_id" --mkfs
  step "starting ceph-osd" ceph-osd "${C[@]}" -i "$osd_id"
  step "starting radosgw" radosgw "${C[@]}" -n client.rgw
  wait_for "radosgw to answer on 127.0.0.1:$rgwport" "$STEP_TIMEOUT" curl -fsS -o /dev/null "http://127.0.0.1:$rgwport/"

  ak="$(random_hex 10)"
  sk="$(random_hex 20)"
  step "radosgw-admin user create" radosgw-admin "${C[@]}" user create --uid test --display-name test \
    --access-key "$ak" --secret "$sk"
  # A freshly created user can take a moment to be visible to the gateway: retry the bucket creation.
  wait_for "creating bucket $BUCKET" 30 curl -fsS -o /dev/null -X PUT \
    --aws-sigv4 "aws:amz:$REGION:s3" --user "$ak:$sk" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:$rgwport/$BUCKET"

  umask 077
  cat >"$DIR/env" <<EOF
STATEKEEPER_TEST_S3_ENDPOINT=http://127.0.0.1:$rgwport
STATEKEEPER_TEST_S3_BUCKET=$BUCKET
STATEKEEPER_TEST_S3_REGION=$REGION
STATEKEEPER_TEST_S3_KMS_KEY_ID=testkey-1
STATEKEEPER_TEST_S3_DIR=$DIR
AWS_ACCESS_KEY_ID=$ak
AWS_SECRET_ACCESS_KEY=$sk
EOF
  trap - EXIT
  say "ready: http://127.0.0.1:$rgwport bucket $BUCKET (stop with: $0 stop $DIR)"
  cat "$DIR/env"
}

stop() {
  [ -n "${DIR:-}" ] || usage
  [ -d "$DIR" ] || {
    say "$DIR does not exist (already stopped)"
    return 0
  }
  [ -f "$DIR/ceph.conf" ] || die "$DIR does not look like an s3-server directory (no ceph.conf); not removing it"
  kill_daemons "$DIR"
  rm -rf "$DIR"
  say "stopped and removed $DIR"
}

cmd="${1:-}"
DIR="${2:-}"
case "$cmd" in
start) start ;;
stop) stop ;;
env)
  [ -n "$DIR" ] || usage
  [ -f "$DIR/env" ] || die "no server under $DIR (no env file)"
  cat "$DIR/env"
  ;;
*) usage ;;
esac
