#!/bin/sh
# Makes the rpm databases in this directory with the real rpm (4.18, Debian's package) and
# Berkeley DB's db_load, so the reader in slimview/packages/rpm.py is tested on files rpm
# itself wrote. Run inside a throwaway container, e.g.:
#   docker run --rm --network none -v "$PWD/tests/data/rpmdb:/out" IMAGE sh /out/make.sh
# where IMAGE is debian:bookworm with `rpm db5.3-util` installed. Outputs:
#   base.sqlite      rpmdb.sqlite after installing the base (glibc, bash)
#   build.sqlite     rpmdb.sqlite after also installing gcc (and what it requires)
#   build.bdb        the same headers in a Berkeley DB hash file (the pre-4.16 Packages)
#   packages.txt     what rpm itself answers about build.sqlite, one fact a line:
#                    "package NAME VERSION-RELEASE SIZE", "requires NAME CAPABILITY", "file NAME PATH"
set -eu
work=$(mktemp -d)
cd "$work"
mkdir -p rpmbuild/SPECS root
spec() {  # name version requires files... (each file: path:size, size in bytes)
    name=$1 version=$2 requires=$3; shift 3
    {
        echo "Name: $name"; echo "Version: $version"; echo "Release: 1.fc40"; echo "Summary: $name"
        echo "License: MIT"; echo "BuildArch: x86_64"; echo "AutoReqProv: no"
        [ -n "$requires" ] && echo "Requires: $requires"
        [ "$name" = bash ] && echo "Provides: /bin/sh"
        echo "%description"; echo "$name for slimview's tests"
        echo "%install"
        for f in "$@"; do
            path=${f%%:*} size=${f##*:}
            echo "mkdir -p %{buildroot}$(dirname "$path")"
            echo "head -c $size /dev/zero | tr '\\\\0' '$(printf %s "$name" | cut -c1)' > %{buildroot}$path"
        done
        [ "$name" = glibc ] && echo "touch %{buildroot}/etc/ld.so.cache.ghost"
        echo "%files"
        for f in "$@"; do echo "${f%%:*}"; done
        [ "$name" = glibc ] && echo "%ghost /etc/ld.so.cache.ghost"
        echo "%changelog"
    } > "rpmbuild/SPECS/$name.spec"
    rpmbuild --quiet --define "_topdir $work/rpmbuild" --define "__strip /bin/true" --define "_build_id_links none" \
        -bb "rpmbuild/SPECS/$name.spec" >/dev/null
}
spec glibc 2.39 "" /usr/lib64/libc.so.6:210000 /usr/lib64/ld-linux-x86-64.so.2:90000 /etc/ld.so.conf:30
spec bash 5.2.26 "glibc" /usr/bin/bash:120000 /usr/share/doc/bash/README:5000
spec mpfr 4.2.1 "glibc" /usr/lib64/libmpfr.so.6:80000
spec cpp 14.1.1 "glibc, mpfr" /usr/bin/cpp:150000
spec glibc-devel 2.39 "glibc" /usr/include/stdio.h:30000 /usr/lib64/libc_nonshared.a:40000
spec gcc 14.1.1 "cpp = 14.1.1, glibc-devel, mpfr, /bin/sh" /usr/bin/gcc:300000 /usr/libexec/gcc/x86_64-redhat-linux/14/cc1:500000
rpms=$work/rpmbuild/RPMS/x86_64
db=/usr/lib/sysimage/rpm
install() { rpm --root "$work/root" --dbpath $db --nodeps --ignorearch --noscripts -i "$@" 2>&1 | grep -v -e "should not be used directly" -e "assuming you know" || true; }
install "$rpms"/glibc-2*.rpm "$rpms"/bash-*.rpm
cp "$work/root$db/rpmdb.sqlite" /out/base.sqlite
install "$rpms"/mpfr-*.rpm "$rpms"/cpp-*.rpm "$rpms"/glibc-devel-*.rpm "$rpms"/gcc-*.rpm
cp "$work/root$db/rpmdb.sqlite" /out/build.sqlite
# The same headers as a Berkeley DB hash file, keyed by package number (a native-endian
# 32-bit integer) as rpm < 4.16 kept them; rpm's read-only bdb backend must list them.
{
    printf 'VERSION=3\nformat=bytevalue\ntype=hash\nHEADER=END\n'
    sqlite3 /out/build.sqlite "SELECT hnum, hex(blob) FROM Packages ORDER BY hnum" | while IFS='|' read -r hnum blob; do
        printf ' %s\n %s\n' "$(printf '%08x' "$hnum" | sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/')" "$(printf %s "$blob" | tr 'A-F' 'a-f')"
    done
    printf 'DATA=END\n'
} > dump.txt
mkdir -p bdb
db5.3_load -f dump.txt bdb/Packages
cp bdb/Packages /out/build.bdb
test "$(rpm --dbpath "$work/bdb" --define '_db_backend bdb_ro' -qa | sort)" = "$(rpm --root "$work/root" --dbpath $db -qa | sort)"
# What rpm answers, for the tests to compare with.
q() { rpm --root "$work/root" --dbpath $db "$@"; }
for name in $(q -qa --qf '%{NAME}\n' | sort); do
    q -q "$name" --qf 'package %{NAME} %{VERSION}-%{RELEASE} %{SIZE}\n'
    q -q "$name" --qf '[requires %{=NAME} %{REQUIRENAME}\n]' | grep -v ' rpmlib(' || true
    q -q "$name" --qf '[file %{=NAME} %{FILENAMES} %{FILEFLAGS:fflags}\n]'
done > /out/packages.txt
rm -rf "$work"
