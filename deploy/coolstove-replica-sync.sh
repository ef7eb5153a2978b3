#!/usr/bin/env bash
# Copy the writing daemon's newest published index generation to this machine, for `coolstove web`.
#
#   coolstove-replica-sync.sh SOURCE DEST
#
# SOURCE is what rsync reads the publish folder through, ending in "/" or ":" (the script appends
# "CURRENT" and "generations/<name>/"): "coolstove-replica@writer.lab.example:" behind an rrsync-restricted
# key (deploy/web-tier.md), or "/srv/coolstove/publish/". DEST is an absolute local folder.
#
# The same rules as the daemon's own publishing (search/publish.py): the generation is copied whole
# into generations/<name>.tmp (unchanged segment files hard-linked to the previous copy, --link-dest),
# flushed, renamed into place, and only then does CURRENT name it (a temporary file and a rename).
# `coolstove web` never sees half a generation. Old generations go once KEEP newer ones exist and
# GRACE_MIN minutes have passed since they stopped being current here.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 SOURCE DEST  (SOURCE ends in / or :, DEST is absolute)" >&2
  exit 2
fi
src=$1
dst=${2%/}
keep=${KEEP:-3}
grace_min=${GRACE_MIN:-10}
case $src in */ | *:) ;; *) echo "SOURCE must end in / or : (got $src)" >&2; exit 2 ;; esac
case $dst in /*) ;; *) echo "DEST must be an absolute path (got $dst)" >&2; exit 2 ;; esac
[ "$keep" -ge 2 ] || { echo "KEEP must be at least 2" >&2; exit 2; }

mkdir -p "$dst/generations"
chmod 0755 "$dst" "$dst/generations"
exec 9>"$dst/.sync.lock"
flock -n 9 || exit 0  # the previous run is still copying

tmp=$(mktemp "$dst/.CURRENT.XXXXXX")
trap 'rm -f "$tmp"' EXIT
rsync -q "${src}CURRENT" "$tmp"
gen=$(tr -d '[:space:]' <"$tmp")
if ! [[ $gen =~ ^[0-9]{1,18}$ ]]; then
  echo "${src}CURRENT names no generation: ${gen:0:40}" >&2
  exit 1
fi
prev=$(tr -d '[:space:]' <"$dst/CURRENT" 2>/dev/null || true)

find "$dst/generations" -mindepth 1 -maxdepth 1 -type d -name '*.tmp' -exec rm -rf {} +  # a run that died
if [ ! -d "$dst/generations/$gen" ]; then
  link=()
  if [[ $prev =~ ^[0-9]+$ ]] && [ -d "$dst/generations/$prev" ]; then
    link=(--link-dest="$dst/generations/$prev")
  fi
  rsync -a "${link[@]}" "${src}generations/$gen/" "$dst/generations/$gen.tmp/"  # modes as published
  sync -f "$dst/generations/$gen.tmp"
  mv -T "$dst/generations/$gen.tmp" "$dst/generations/$gen"
  touch "$dst/generations/$gen"  # arrived now: the previous one stops being current now
fi

if [ "$prev" != "$gen" ]; then
  chmod 0644 "$tmp"
  sync -f "$tmp"
  mv -f "$tmp" "$dst/CURRENT"
fi

# older than the KEEP newest, and superseded (its successor arrived) more than GRACE_MIN minutes ago
mapfile -t gens < <(find "$dst/generations" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended \
  -regex '.*/[0-9]{1,18}' -printf '%f\n' | sort -n)
for ((i = 0; i + keep < ${#gens[@]}; i++)); do
  old=${gens[i]}
  (( 10#$old < 10#$gen )) || break
  [ -n "$(find "$dst/generations/${gens[i + 1]}" -maxdepth 0 -mmin +"$grace_min")" ] || break
  mv -T "$dst/generations/$old" "$dst/generations/$old.old"
  rm -rf "$dst/generations/$old.old"
done
find "$dst/generations" -mindepth 1 -maxdepth 1 -type d -name '*.old' -exec rm -rf {} +
