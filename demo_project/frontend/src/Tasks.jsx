// Tasks: tasks:list, tasks:create, and tasks:toggle with an optimistic update that flips `done`
// in the local store at once; the server's result replaces the guess when the mutation is
// confirmed (or the guess is rolled back if it fails).

import { useState } from "react";
import { useMutation, useQuery } from "reactive/react.js";

const ALL = {}; // tasks:list args: every task

function flipDone(localStore, { taskId }) {
  const tasks = localStore.getQuery("tasks:list", ALL);
  if (tasks === undefined) return; // not loaded: nothing to guess about
  localStore.setQuery(
    "tasks:list",
    ALL,
    tasks.map((task) => (task._id === taskId ? { ...task, done: !task.done } : task)),
  );
}

export function Tasks() {
  const tasks = useQuery("tasks:list", ALL);
  const toggle = useMutation("tasks:toggle").withOptimisticUpdate(flipDone);
  const [pending, setPending] = useState(() => new Set());
  const [error, setError] = useState(null);

  const onToggle = (taskId) => {
    setError(null);
    setPending((current) => new Set(current).add(taskId));
    toggle({ taskId })
      .catch((failure) => setError(failure.message))
      .finally(() =>
        setPending((current) => {
          const next = new Set(current);
          next.delete(taskId);
          return next;
        }),
      );
  };

  if (tasks === undefined) return <p className="muted">Loading tasks…</p>;
  const done = tasks.filter((task) => task.done).length;
  return (
    <>
      <ul className="tasks" data-testid="task-list">
        {tasks.map((task) => (
          <li key={task._id} data-testid="task" data-id={task._id} data-pending={pending.has(task._id)}>
            <label>
              <input type="checkbox" data-testid="task-toggle" checked={task.done} onChange={() => onToggle(task._id)} />
              <span className={task.done ? "done" : ""}>{task.text}</span>
            </label>
            {pending.has(task._id) && <span className="muted"> saving…</span>}
          </li>
        ))}
      </ul>
      <p className="muted" data-testid="task-summary">
        {done} of {tasks.length} done
      </p>
      {error && (
        <p className="error" data-testid="task-error">
          {error}
        </p>
      )}
      <NewTask />
    </>
  );
}

function NewTask() {
  const create = useMutation("tasks:create");
  const [text, setText] = useState("");
  const submit = (event) => {
    event.preventDefault();
    if (text.trim() === "") return;
    create({ text: text.trim() }).then(() => setText(""));
  };
  return (
    <form className="inline" onSubmit={submit}>
      <input data-testid="task-input" placeholder="new task" value={text} onChange={(e) => setText(e.target.value)} />
      <button type="submit" data-testid="add-task">
        Add
      </button>
    </form>
  );
}
