#!/usr/bin/env bash
# Build the sample images on the CI engine (bash .ci/engine.sh start and bases first).
#
#   bash sample_images/build.sh [SAMPLE|all] [--reference] [--legacy] [--tag NAME]
#
# SAMPLE is python-inference (the default), node-service or go-service; `all` builds the
# three. Each bloated sample is tagged SAMPLE:latest; --reference builds the sample's
# hand-written Dockerfile.reference instead and tags it SAMPLE:reference. BuildKit by
# default; --legacy uses the classic builder (bloated samples only: the references use
# cache mounts). --tag NAME names the result instead (one sample only).
#
# The context is copied to a temporary directory and made a git repository there, because
# the samples are meant to ship a .git directory in their images and a nested .git cannot
# be committed to slimview's own repository. The bloated builds read no .dockerignore, so
# they copy all the junk; a reference build reads Dockerfile.reference.dockerignore, which
# BuildKit takes from beside the Dockerfile.
set -euo pipefail

usage() {
    echo "usage: $0 [python-inference|node-service|go-service|all] [--reference] [--legacy] [--tag NAME]" >&2
    exit 2
}

samples=()
buildkit=1
reference=0
tag=
while [ $# -gt 0 ]; do
    case $1 in
        python-inference | node-service | go-service) samples+=("$1"); shift ;;
        all) samples+=(python-inference node-service go-service); shift ;;
        --reference) reference=1; shift ;;
        --legacy) buildkit=0; shift ;;
        --tag) tag=${2:?--tag needs a name}; shift 2 ;;
        *) usage ;;
    esac
done
((${#samples[@]} > 0)) || samples=(python-inference)
if [ -n "$tag" ] && ((${#samples[@]} > 1)); then
    echo "$0: --tag names one image; give one sample" >&2
    exit 2
fi
if ((reference && !buildkit)); then
    echo "$0: the reference Dockerfiles need BuildKit (cache mounts); drop --legacy" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
export DOCKER_HOST=${DOCKER_HOST:-unix:///run/slimview-ci/docker.sock}

# Fixed identity and dates, so the same sources always give the same commit id.
export GIT_AUTHOR_NAME=sample GIT_AUTHOR_EMAIL=sample@example.invalid
export GIT_COMMITTER_NAME=sample GIT_COMMITTER_EMAIL=sample@example.invalid
export GIT_AUTHOR_DATE=2024-01-01T00:00:00Z GIT_COMMITTER_DATE=2024-01-01T00:00:00Z

contexts=()
trap 'rm -rf "${contexts[@]}"' EXIT

build_sample() {
    local sample=$1 context dockerfile=Dockerfile name=latest t0=$SECONDS
    ((reference)) && { dockerfile=Dockerfile.reference; name=reference; }
    context=$(mktemp -d "/tmp/$sample.XXXXXX")
    contexts+=("$context")
    cp -a "$here/$sample/." "$context/"
    # The sample's own .gitignore applies, as in a developer's clone: .env and coverage
    # output are in the context but not in the commit.
    git -C "$context" init -q -b main
    git -C "$context" add -A
    git -C "$context" commit -q -m "$sample sources"
    DOCKER_BUILDKIT=$buildkit /usr/bin/docker build --network host \
        -f "$context/$dockerfile" -t "${tag:-$sample:$name}" "$context"
    echo "build.sh: built ${tag:-$sample:$name} in $((SECONDS - t0)) s" >&2
}

for sample in "${samples[@]}"; do
    build_sample "$sample"
done
