#!/usr/bin/env bash
# Measures roomctl:observe (the plugin's bash) on synthetic hosts shaped like
# tests/fixtures/dokku-transcripts/disk-layout/: N apps cycling through the
# recorded i01-backend (deployed, a container, a snippet), i13-matrix (a
# mount, a snippet) and i05-backend (hostile env values), each with its
# storage entry. Prints, per run: apps, files read, bytes printed, wall
# and CPU seconds (medians of REPS runs; on a loaded machine the CPU
# time is the better estimate of the wall time on an idle core). Docker is a stand-in that answers at once,
# so the real docker call is not in these figures.
#
#   dokku-plugin/bench/observe-cost.sh [N...]        (default: 0 1 100 300 1000)
#   PAD=BYTES adds BYTES of env value to every app (per-byte cost)
#   EXTRA=K adds K resource properties to every app (per-file cost)
set -eo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$HERE/../.."
LAYOUT="$REPO/tests/fixtures/dokku-transcripts/disk-layout"
REPS="${REPS:-5}"
PAD="${PAD:-0}"
EXTRA="${EXTRA:-0}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK/plugins" "$WORK/core/common" "$WORK/bin"
ln -s "$REPO/dokku-plugin/roomctl" "$WORK/plugins/roomctl"
printf 'dokku_log_warn() { echo " !     $*" 1>&2; }\n' >"$WORK/core/common/functions"
cat >"$WORK/bin/docker" <<'D'
#!/bin/sh
shift 4; [ "$1" = "--" ] && shift
for id in "$@"; do echo "roomctl-cid $id true"; done
D
chmod 755 "$WORK/bin/docker"

build() {
  local n="$1" root="$WORK/host-$1" i t app pad=""
  rm -rf "$root"
  mkdir -p "$root/home" "$root/lib/config" "$root/lib/data/storage-registry/entries"
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
}

run() {
  local root="$WORK/host-$1"
  PATH="$WORK/bin:$PATH" PLUGIN_AVAILABLE_PATH="$WORK/plugins" PLUGIN_CORE_AVAILABLE_PATH="$WORK/core" \
    DOKKU_ROOT="$root/home" DOKKU_LIB_ROOT="$root/lib" \
    bash "$WORK/plugins/roomctl/subcommands/observe" roomctl:observe
}

printf '%6s %7s %9s %9s %9s\n' apps files bytes wall_s cpu_s
for n in "${@:-0 1 100 300 1000}"; do
  build "$n"
  run "$n" >"$WORK/out"
  cp "$WORK/out" "${KEEP:-/dev/null}" 2>/dev/null || true
  bytes="$(wc -c <"$WORK/out")"
  files="$(grep -ac '^[FH] [0-9]* [0-9bs]' "$WORK/out" || true)"
  walls=() cpus=()
  for ((r = 0; r < REPS; r++)); do
    /usr/bin/time -o "$WORK/time" -f '%e %U %S' bash -c "$(declare -f run); WORK='$WORK'; run $n" >/dev/null
    read -r wall user sys <"$WORK/time"
    walls+=("$wall")
    cpus+=("$(echo "$user + $sys" | bc)")
  done
  mid=$(((REPS + 1) / 2))
  wall="$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "${mid}p")"
  cpu="$(printf '%s\n' "${cpus[@]}" | sort -n | sed -n "${mid}p")"
  printf '%6d %7d %9d %9.3f %9.3f\n' "$n" "$files" "$bytes" "$wall" "$cpu"
done
