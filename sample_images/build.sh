#!/usr/bin/env bash
# Build the sample image python-inference:latest on the CI engine (bash .ci/engine.sh start
# and bases first). BuildKit by default; --legacy uses the classic builder; --tag NAME
# tags the result NAME instead of python-inference:latest.
#
# The context is copied to a temporary directory and made a git repository there, because
# the sample is meant to ship a .git directory in its image and a nested .git cannot be
# committed to slimview's own repository.
set -euo pipefail

buildkit=1
tag=python-inference:latest
while [ $# -gt 0 ]; do
    case $1 in
        --legacy) buildkit=0; shift ;;
        --tag) tag=${2:?--tag needs a name}; shift 2 ;;
        *) echo "usage: $0 [--legacy] [--tag NAME]" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "$0")" && pwd)
export DOCKER_HOST=${DOCKER_HOST:-unix:///run/slimview-ci/docker.sock}

context=$(mktemp -d /tmp/python-inference.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp -a "$here/python-inference/." "$context/"

# Fixed identity and dates, so the same sources always give the same commit id.
export GIT_AUTHOR_NAME=sample GIT_AUTHOR_EMAIL=sample@example.invalid
export GIT_COMMITTER_NAME=sample GIT_COMMITTER_EMAIL=sample@example.invalid
export GIT_AUTHOR_DATE=2024-01-01T00:00:00Z GIT_COMMITTER_DATE=2024-01-01T00:00:00Z
git -C "$context" init -q -b main
git -C "$context" add -A
git -C "$context" commit -q -m "inference-engine sources"

DOCKER_BUILDKIT=$buildkit /usr/bin/docker build --network host -t "$tag" "$context"
