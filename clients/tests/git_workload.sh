#!/bin/sh
# git_workload.sh: a scripted git session in a fresh temporary repository (for the preload
# tests): commits on two branches, a merge, log, diff, blame, grep, gc and fsck. Dates and
# identities are fixed, so the output (hashes included) depends only on the work.
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
export GIT_AUTHOR_NAME=pymt GIT_AUTHOR_EMAIL=pymt@example.invalid
export GIT_COMMITTER_NAME=pymt GIT_COMMITTER_EMAIL=pymt@example.invalid
export GIT_CONFIG_NOSYSTEM=1 HOME="$dir" TZ=UTC
tick=1700000000
commit() {
    tick=$((tick + 60))
    GIT_AUTHOR_DATE="@$tick +0000" GIT_COMMITTER_DATE="@$tick +0000" git commit -q "$@"
}
git init -q -b main repo
cd repo
i=0
while [ $i -lt 40 ]; do
    seq $i $((i * 50 + 100)) | sed "s/^/line $i: /" >"file$((i % 7)).txt"
    git add -A
    commit -m "change $i"
    i=$((i + 1))
done
git checkout -q -b side HEAD~10
i=0
while [ $i -lt 10 ]; do
    echo "side $i" >>"side.txt"
    git add side.txt
    commit -m "side $i"
    i=$((i + 1))
done
git checkout -q main
tick=$((tick + 60))
GIT_AUTHOR_DATE="@$tick +0000" GIT_COMMITTER_DATE="@$tick +0000" git merge -q --no-edit side
git log --oneline --graph | head -20
git log --stat -3 | cat
git diff HEAD~5 HEAD --stat
git blame -s file3.txt | tail -5
git grep -c "line 3" | sort
git gc -q --aggressive
git fsck --strict 2>&1
git count-objects -v | grep -v size
git rev-parse HEAD
