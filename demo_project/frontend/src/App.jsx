// The page: a header with the connection badge, then one panel per feature.

import { useState } from "react";
import { Chat } from "./Chat.jsx";
import { ConnectionBadge } from "./ConnectionBadge.jsx";
import { Dashboard } from "./Dashboard.jsx";
import { Panel } from "./Panel.jsx";
import { Profile } from "./Profile.jsx";
import { Tasks } from "./Tasks.jsx";

export function App() {
  const [author, setAuthor] = useAuthorName();
  return (
    <>
      <header className="top">
        <h1>reactive demo</h1>
        <label className="author">
          Your name{" "}
          <input data-testid="author-input" value={author} maxLength={150} onChange={(e) => setAuthor(e.target.value)} />
        </label>
        <ConnectionBadge />
      </header>
      <main className="grid">
        <Panel title="Chat" className="wide">
          <Chat author={author.trim() || "guest"} />
        </Panel>
        <Panel title="Tasks (optimistic toggles)">
          <Tasks />
        </Panel>
        <Panel title={'User profile ("skip" until a user is picked)'}>
          <Profile />
        </Panel>
        <Panel title="Dashboard (four live queries)" className="wide">
          <Dashboard />
        </Panel>
      </main>
      <footer>
        No build step? See <a href="/plain/">/plain/</a>: the same client, imported straight from Django's static files.
      </footer>
    </>
  );
}

/** The author name, remembered in this browser. */
function useAuthorName() {
  const [name, setName] = useState(() => localStorage.getItem("reactive-demo.author") ?? "guest");
  const update = (value) => {
    setName(value);
    localStorage.setItem("reactive-demo.author", value);
  };
  return [name, update];
}
