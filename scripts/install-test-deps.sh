#!/usr/bin/env bash
# System packages the end-to-end tests use: OpenSSH sshd (real nodes on 127.0.0.x) and promtool
# (checks /metrics). Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
command -v promtool >/dev/null || missing+=(prometheus)
command -v git >/dev/null || missing+=(git)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing test dependencies: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
