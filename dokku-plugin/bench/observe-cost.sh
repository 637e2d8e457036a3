#!/usr/bin/env bash
# Measures roomctl:observe (the plugin's bash) on synthetic hosts shaped like
# tests/fixtures/dokku-transcripts/disk-layout/: N apps cycling through the
# recorded i01-backend (deployed: a container of its own, a snippet),
# i13-matrix (a mount, a snippet) and i05-backend (hostile env values), each
# with its storage entry. Prints, per host size: apps, files sent (the `f`
# records: what `stat` and `cat` read), bytes printed, containers Docker
# lists, then wall and CPU seconds (user + sys of the plugin, its children
# and a `cat` reading its stdout through a pipe, as sshd does on a host:
# `cat` writes each file on its own, and every write wakes the reader): the
# median and the minimum of REPS runs. On a loaded machine the CPU time is
# the better estimate of the wall time on an idle core.
#
# Docker is a stand-in (`sh` printing a prepared `docker ps -a` listing of
# one container per deployed app plus DOCKER_EXTRA others), so these
# figures hold the plugin's handling of Docker's answer but not the real
# docker CLI and daemon.
#
#   dokku-plugin/bench/observe-cost.sh [N...]        (default: 0 30 100 300 1000)
#   REPS=K        runs per size (default 5)
#   PAD=BYTES     adds BYTES of env value to every app (per-byte cost)
#   EXTRA=K       adds K resource properties to every app (per-file cost)
#   DOCKER_EXTRA=K  Docker lists K more containers than the apps have
#   KEEP=FILE     keeps the last host's output
set -eo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$HERE/../.."
LAYOUT="$REPO/tests/fixtures/dokku-transcripts/disk-layout"
REPS="${REPS:-5}"
PAD="${PAD:-0}"
EXTRA="${EXTRA:-0}"
DOCKER_EXTRA="${DOCKER_EXTRA:-0}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK/plugins" "$WORK/core/common" "$WORK/bin"
ln -s "$REPO/dokku-plugin/roomctl" "$WORK/plugins/roomctl"
printf 'dokku_log_warn() { echo " !     $*" 1>&2; }\n' >"$WORK/core/common/functions"
cat >"$WORK/bin/docker" <<'D'
#!/bin/sh
[ "$1 $2" = "ps -a" ] || exit 2
cat "$DOCKER_PS"
D
chmod 755 "$WORK/bin/docker"

build() {
  local n="$1" root="$WORK/host-$1" i k t app pad="" id
  rm -rf "$root"
  mkdir -p "$root/home" "$root/lib/config" "$root/lib/data/storage-registry/entries"
  : >"$root/docker-ps"
  [[ "$PAD" -gt 0 ]] && pad="$(head -c "$PAD" /dev/zero | tr '\0' x)"
  local templates=(i01-backend i13-matrix i05-backend)
  for ((i = 0; i < n; i++)); do
    t="${templates[i % 3]}"
    app="$(printf 'i%04d-%s' "$i" "${t#*-}")"
    mkdir -p "$root/home/$app"
    for f in "$LAYOUT/$t/home-dokku-app"/*; do
      [[ "${f##*/}" == nginx.conf.d.list ]] && continue
      cp "$f" "$root/home/$app/"
    done
    if [[ -f "$root/home/$app/CONTAINER.web.1" ]]; then
      id="$(printf '%s' "$app" | sha256sum | cut -c1-64)"
      printf '%s\n' "$id" >"$root/home/$app/CONTAINER.web.1"
      printf '%s running\n' "$id" >>"$root/docker-ps"
    fi
    if [[ "$t" != i05-backend ]]; then
      mkdir -p "$root/home/$app/nginx.conf.d"
      head -c 900 /dev/urandom | base64 >"$root/home/$app/nginx.conf.d/roomctl.conf"
    fi
    (cd "$LAYOUT/$t/var-lib-dokku-config" && find . -type f) | while read -r rel; do
      rel="${rel#./}"
      dest="${rel//$t/$app}"
      mkdir -p "$root/lib/config/$(dirname "$dest")"
      cp "$LAYOUT/$t/var-lib-dokku-config/$rel" "$root/lib/config/$dest"
    done
    [[ -n "$pad" ]] && printf 'PAD="%s"\n' "$pad" >>"$root/lib/config/$app/ENV"
    for ((k = 0; k < EXTRA; k++)); do printf '1' >"$root/lib/config/resource/$app/p$k"; done
    name="legacy-$(printf '%s' "/var/lib/dokku/data/storage/$app" | sha1sum | cut -c1-10)"
    sed -i "s/\"entry_name\":\"[^\"]*\"/\"entry_name\":\"$name\"/" "$root/lib/config/storage/$app/mounts" 2>/dev/null || true
    printf '{\n  "name": "%s",\n  "scheduler": "docker-local",\n  "host_path": "/var/lib/dokku/data/storage/%s",\n  "schema_version": 1\n}' \
      "$name" "$app" >"$root/lib/data/storage-registry/entries/$name.json"
  done
  for ((k = 0; k < DOCKER_EXTRA; k++)); do
    printf '%064x exited\n' "$k" >>"$root/docker-ps"
  done
}

run() {
  local root="$WORK/host-$1"
  PATH="$WORK/bin:$PATH" PLUGIN_AVAILABLE_PATH="$WORK/plugins" PLUGIN_CORE_AVAILABLE_PATH="$WORK/core" \
    DOKKU_ROOT="$root/home" DOKKU_LIB_ROOT="$root/lib" DOCKER_PS="$root/docker-ps" \
    bash "$WORK/plugins/roomctl/subcommands/observe" roomctl:observe
}

median_min() {
  local mid=$(((REPS + 1) / 2))
  printf '%s\n' "$@" | sort -n | sed -n "${mid}p;1p" | sort -n | tac | tr '\n' ' '
}

printf '%6s %7s %9s %6s %9s %9s %9s %9s\n' apps files bytes ctrs wall_med wall_min cpu_med cpu_min
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(0 30 100 300 1000)
for n in "${sizes[@]}"; do
  build "$n"
  run "$n" >"$WORK/out"
  [[ -z "$KEEP" ]] || cp "$WORK/out" "$KEEP"
  tail -n 1 "$WORK/out" | grep -q '^end ' || { echo "host-$n: no trailer" >&2; exit 1; }
  bytes="$(wc -c <"$WORK/out")"
  files="$(grep -a -m 1 '^sizes [0-9]*$' "$WORK/out" | cut -d' ' -f2)"
  ctrs="$(wc -l <"$WORK/host-$n/docker-ps")"
  walls=() cpus=()
  for ((r = 0; r < REPS; r++)); do
    /usr/bin/time -o "$WORK/time" -f '%e %U %S' bash -c "$(declare -f run); WORK='$WORK'; run $n | cat >/dev/null"
    read -r wall user sys <"$WORK/time"
    walls+=("$wall")
    cpus+=("$(echo "$user + $sys" | bc)")
  done
  read -r wall_med wall_min <<<"$(median_min "${walls[@]}")"
  read -r cpu_med cpu_min <<<"$(median_min "${cpus[@]}")"
  printf '%6d %7d %9d %6d %9.3f %9.3f %9.3f %9.3f\n' "$n" "$files" "$bytes" "$ctrs" \
    "$wall_med" "$wall_min" "$cpu_med" "$cpu_min"
done
