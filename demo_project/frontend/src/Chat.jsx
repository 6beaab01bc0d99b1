// The chat: channels (channels:list, channels:create), the live message list (messages:list),
// the paginated history (messages:paginated with "Load more") and the send box (messages:send).

import { useEffect, useRef, useState } from "react";
import { useMutation, usePaginatedQuery, useQuery } from "reactive/react.js";
import { time } from "./format.js";

export function Chat({ author }) {
  const channels = useQuery("channels:list", {});
  const [selected, setSelected] = useState(null);
  // Until the user picks one, show "general" (or the first channel).
  const channelId = selected ?? channels?.find((c) => c.name === "general")?._id ?? channels?.[0]?._id ?? null;
  if (channels === undefined) return <p className="muted">Loading channels…</p>;
  return (
    <div className="chat">
      <aside>
        <Channels channels={channels} channelId={channelId} onSelect={setSelected} />
        <NewChannel onCreated={setSelected} />
      </aside>
      {channelId === null ? (
        <p className="muted">No channels yet: create one.</p>
      ) : (
        <>
          <div className="chat-live">
            <h3>Live (newest 50)</h3>
            <MessageList channelId={channelId} />
            <SendBox channelId={channelId} author={author} />
          </div>
          <div className="chat-history">
            <h3>History (paginated)</h3>
            <History key={channelId} channelId={channelId} />
          </div>
        </>
      )}
    </div>
  );
}

function Channels({ channels, channelId, onSelect }) {
  return (
    <ul className="channels" data-testid="channel-list">
      {channels.map((channel) => (
        <li key={channel._id}>
          <button
            type="button"
            data-testid={`channel-${channel.name}`}
            className={channel._id === channelId ? "selected" : ""}
            aria-pressed={channel._id === channelId}
            onClick={() => onSelect(channel._id)}
          >
            # {channel.name}
          </button>
        </li>
      ))}
    </ul>
  );
}

function NewChannel({ onCreated }) {
  const create = useMutation("channels:create");
  const [name, setName] = useState("");
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      onCreated(await create({ name: name.trim() }));
      setName("");
    } catch (failure) {
      setError(failure.message); // e.g. "A channel named 'x' already exists" (data.code "name_taken")
    }
  };
  return (
    <form className="new-channel" onSubmit={submit}>
      <input data-testid="new-channel-name" placeholder="new channel" value={name} onChange={(e) => setName(e.target.value)} />
      <button type="submit" data-testid="create-channel" disabled={name.trim() === ""}>
        Create
      </button>
      {error && (
        <p className="error" data-testid="channel-error">
          {error}
        </p>
      )}
    </form>
  );
}

function MessageList({ channelId }) {
  const messages = useQuery("messages:list", { channelId });
  const bottom = useRef(null);
  useEffect(() => {
    bottom.current?.scrollIntoView({ block: "nearest" }); // a block: newer browsers return a promise here
  }, [messages]);
  if (messages === undefined) return <p className="muted">Loading messages…</p>;
  return (
    <ol className="messages" data-testid="message-list">
      {messages.map((message) => (
        <Message key={message._id} message={message} />
      ))}
      <li ref={bottom} className="end" aria-hidden="true" />
    </ol>
  );
}

function Message({ message, testId = "message" }) {
  return (
    <li data-testid={testId} data-id={message._id}>
      <span className="author">{message.author ?? "anonymous"}</span>
      <span className="body" data-testid="message-body">
        {message.body}
      </span>
      <time className="muted">{time(message.createdAt)}</time>
    </li>
  );
}

function SendBox({ channelId, author }) {
  const send = useMutation("messages:send");
  const [body, setBody] = useState("");
  const [error, setError] = useState(null);
  const submit = (event) => {
    event.preventDefault();
    const text = body.trim();
    if (text === "") return;
    setBody("");
    setError(null);
    send({ channelId, body: text, author }).catch((failure) => {
      setError(failure.message);
      setBody(text); // give the text back, to send again
    });
  };
  return (
    <form className="send" onSubmit={submit}>
      <input
        data-testid="message-input"
        placeholder={`Message as ${author}`}
        value={body}
        maxLength={2000}
        onChange={(e) => setBody(e.target.value)}
      />
      <button type="submit" data-testid="send-button">
        Send
      </button>
      {error && (
        <p className="error" data-testid="send-error">
          {error}
        </p>
      )}
    </form>
  );
}

const PAGE_SIZE = 10;

function History({ channelId }) {
  const { results, status, loadMore, isLoading } = usePaginatedQuery(
    "messages:paginated",
    { channelId },
    { initialNumItems: PAGE_SIZE },
  );
  return (
    <div className="history">
      <ol className="messages" data-testid="history-list" data-count={results.length}>
        {results.map((message) => (
          <Message key={message._id} message={message} testId="history-item" />
        ))}
      </ol>
      <p className="history-footer">
        <button type="button" data-testid="load-more" disabled={status !== "CanLoadMore"} onClick={() => loadMore(PAGE_SIZE)}>
          Load more
        </button>{" "}
        <span className="muted" data-testid="history-status">
          {status}
        </span>{" "}
        <span className="muted">
          {results.length} loaded{isLoading ? ", loading…" : ""}
        </span>
      </p>
    </div>
  );
}
