printf 'one two three four\n' > .words.tmp
got=$(sh count.sh .words.tmp)
rm -f .words.tmp
[ "$got" = 4 ] || { echo "AssertionError: expected 4 words, got $got" >&2; exit 1; }
