"""Writes a benchmark project: autodev.toml and a task.json with N realistic tasks."""
import json, os, sys

root, count = sys.argv[1], int(sys.argv[2])
os.makedirs(root, exist_ok=True)
with open(os.path.join(root, "autodev.toml"), "w") as f:
    f.write('[project]\nname = "bench"\n')
tasks = []
for i in range(count):
    task = {
        "id": f"T{i:04d}",
        "title": f"Implement feature {i} with tests",
        "description": "Add the feature, cover it with unit tests and document the flags. " * 2,
        "steps": [f"step {s} of task {i}" for s in range(5)],
        "docs": ["docs/specs/bench-coca-spec.md"],
        "verification": {"validate_commands": ["cargo test -q"], "path_patterns": ["src/**/*.rs"]},
        "passes": i % 3 == 0,
        "blocked": i % 7 == 0,
        "block_reason": "tests failed three times" if i % 7 == 0 else "",
        "attempt_history": [{"attempt": 1, "status": "failed", "summary": "verification failed"}] if i % 5 == 0 else [],
    }
    tasks.append(task)
with open(os.path.join(root, "task.json"), "w") as f:
    json.dump({"project": "bench", "tasks": tasks}, f, indent=2)
    f.write("\n")
