read -r line < hello.txt || { echo "AssertionError: hello.txt is missing" >&2; exit 1; }
[ "$line" = "hello, world" ] || { echo "AssertionError: expected 'hello, world', got '$line'" >&2; exit 1; }
