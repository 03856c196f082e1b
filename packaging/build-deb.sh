#!/usr/bin/env bash
# Builds smtpwall's Debian binary packages (smtpwall, smtpwall-helper and their
# -dbgsym) from this tree. The repository keeps the Debian directory as
# packaging/debian so that its root stays free of debian/: this script exports
# the tree (tracked and untracked-but-not-ignored files, as `git status` sees
# them; no build directories), puts packaging/debian in place as debian/ and runs
# `dpkg-buildpackage -us -uc -b`.
#
#   packaging/build-deb.sh [-o OUTDIR] [-w WORKDIR] [--version VERSION] [--rebuild]
#                          [-- dpkg-buildpackage options]
#
#   -o OUTDIR      where the .deb, .changes and .buildinfo files go (default: ./deb-out)
#   -w WORKDIR     where the tree is exported and built (default: a temporary
#                  directory, removed afterwards); kept when given
#   --version V    build as Debian version V (a changelog entry is added to the
#                  export only), e.g. to test an upgrade to a newer version
#   --rebuild      reuse the export and compiled tree in WORKDIR (from an earlier
#                  run with the same -w): only the packages are made again, with
#                  the new --version. Seconds instead of a full compile.
#
# DEB_BUILD_OPTIONS is honoured (e.g. "nocheck parallel=2"); without parallel=
# the build uses -j2 at most. Needs: dpkg-dev, debhelper, fakeroot and the
# Build-Depends of packaging/debian/control (scripts/setup-debian.sh installs them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
outdir=$PWD/deb-out
workdir=
version=
rebuild=0
while (($#)); do
    case $1 in
        -o) outdir=$2; shift 2 ;;
        -w) workdir=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        --rebuild) rebuild=1; shift ;;
        --) shift; break ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "build-deb.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in dpkg-buildpackage dh fakeroot; do
    command -v "$tool" >/dev/null ||
        { echo "build-deb.sh: $tool missing: run scripts/setup-debian.sh" >&2; exit 1; }
done

cleanup_work=0
if [ -z "$workdir" ]; then
    workdir=$(mktemp -d /tmp/smtpwall-deb.XXXXXX)
    cleanup_work=1
    ((rebuild == 0)) || { echo "build-deb.sh: --rebuild needs -w WORKDIR" >&2; exit 2; }
fi
trap '((cleanup_work)) && rm -rf "$workdir"' EXIT
mkdir -p "$workdir" "$outdir"
outdir=$(cd "$outdir" && pwd)
workdir=$(cd "$workdir" && pwd)
src=$workdir/smtpwall

if ((rebuild)); then
    [ -f "$src/debian/control" ] && [ -d "$src/build-deb" ] ||
        { echo "build-deb.sh: nothing to rebuild in $workdir" >&2; exit 2; }
    # The changelog of the last build, not of a --version entry added since.
    cp "$workdir/changelog.base" "$src/debian/changelog"
else
    rm -rf "$src"
    mkdir -p "$src"
    if git -C "$repo" rev-parse --show-toplevel >/dev/null 2>&1; then
        # Only files that still exist (a deleted tracked file is not exported).
        (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
            tar --null -T - -cf -) | tar -C "$src" -xf -
    else
        tar -C "$repo" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$src" -xf -
    fi
    rm -rf "$src/debian"
    cp -a "$src/packaging/debian" "$src/debian"
    cp "$src/debian/changelog" "$workdir/changelog.base"
fi

if [ -n "$version" ]; then
    maintainer=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$workdir/changelog.base" | head -n1)
    {
        printf 'smtpwall (%s) unstable; urgency=medium\n\n' "$version"
        printf '  * Local build of version %s (packaging/build-deb.sh --version).\n\n' "$version"
        printf ' -- %s  %s\n\n' "$maintainer" "$(date -R)"
        cat "$workdir/changelog.base"
    } >"$src/debian/changelog"
fi

export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-}
case " $DEB_BUILD_OPTIONS " in
    *" parallel="*) ;;
    *) DEB_BUILD_OPTIONS="$DEB_BUILD_OPTIONS parallel=2" ;;
esac

cd "$src"
# The .changes file's name comes from the changelog's newest entry.
built_version=$(dpkg-parsechangelog -S Version)
args=(-us -uc -b)
((rebuild)) && args+=(-nc)
echo "build-deb.sh: building smtpwall $built_version in $src (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS)"
dpkg-buildpackage "${args[@]}" "$@"

arch=$(dpkg --print-architecture)
changes=$workdir/smtpwall_${built_version}_${arch}.changes
[ -f "$changes" ] || { echo "build-deb.sh: $changes was not made" >&2; exit 1; }
# Everything the .changes file names, and the .changes file itself.
files=$(sed -n '/^Files:/,/^[^ ]/{/^ /s/.* //p}' "$changes")
for f in $files; do mv -f "$workdir/$f" "$outdir/"; done
mv -f "$changes" "$outdir/"
echo "build-deb.sh: packages in $outdir:"
for f in $files; do echo "  $f"; done
