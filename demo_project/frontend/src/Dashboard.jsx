// Four subscriptions at once (analytics:stats, users:list, messages:recent, orders:list), each
// updated on its own when a write changes it. users:list is shared with the profile panel: the
// client sends one query for both.

import { useState } from "react";
import { useAction, useMutation, useQuery } from "reactive/react.js";
import { money, time } from "./format.js";

export function Dashboard() {
  return (
    <div className="dashboard">
      <Stats />
      <Users />
      <Recent />
      <Orders />
    </div>
  );
}

function Stats() {
  const stats = useQuery("analytics:stats", {});
  if (stats === undefined) return <p className="muted">Loading stats…</p>;
  const cards = [
    ["users", "users", stats.users],
    ["channels", "channels", stats.channels],
    ["messages", "messages", stats.messages],
    ["tasks", "tasks done", `${stats.tasksDone}/${stats.tasks}`],
    ["payments", "payments", stats.payments],
    ["revenue", "revenue", money(stats.revenueCents)],
  ];
  return (
    <div className="stats">
      {cards.map(([key, label, value]) => (
        <div className="stat" key={key}>
          <strong data-testid={`stat-${key}`}>{value}</strong>
          <span className="muted">{label}</span>
        </div>
      ))}
    </div>
  );
}

function Users() {
  const users = useQuery("users:list", {});
  return (
    <div>
      <h3>Users</h3>
      {users === undefined ? (
        <p className="muted">Loading…</p>
      ) : (
        <ul className="compact" data-testid="dashboard-users">
          {users.map((user) => (
            <li key={user._id}>{user.username}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Recent() {
  const recent = useQuery("messages:recent", {});
  return (
    <div>
      <h3>Recent messages</h3>
      {recent === undefined ? (
        <p className="muted">Loading…</p>
      ) : (
        <ul className="compact" data-testid="recent-list">
          {recent.slice(0, 6).map((message) => (
            <li key={message._id}>
              <span className="muted">{time(message.createdAt)}</span> <b>{message.author ?? "anonymous"}</b> {message.body}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Orders() {
  const orders = useQuery("orders:list", {});
  return (
    <div>
      <h3>Orders</h3>
      {orders === undefined ? (
        <p className="muted">Loading…</p>
      ) : (
        <ul className="orders" data-testid="order-list">
          {orders.map((order) => (
            <Order key={order._id} order={order} />
          ))}
        </ul>
      )}
      <NewOrder />
    </div>
  );
}

function Order({ order }) {
  const pay = useAction("payments:process");
  const [paying, setPaying] = useState(false);
  const [error, setError] = useState(null);
  const onPay = async () => {
    setPaying(true);
    setError(null);
    try {
      await pay({ orderId: order._id }); // the action waits for the (simulated) provider
    } catch (failure) {
      setError(failure.message);
    } finally {
      setPaying(false);
    }
  };
  return (
    <li data-testid="order" data-id={order._id}>
      <span>{order.description}</span> <span className="muted">{money(order.amountCents)}</span>{" "}
      {order.paid ? (
        <span className="paid" data-testid="order-paid">
          paid
        </span>
      ) : (
        <button type="button" data-testid="pay-button" disabled={paying} onClick={onPay}>
          {paying ? "Paying…" : "Pay now"}
        </button>
      )}
      {error && (
        <span className="error" data-testid="pay-error">
          {" "}
          {error}
        </span>
      )}
    </li>
  );
}

function NewOrder() {
  const create = useMutation("orders:create");
  const [description, setDescription] = useState("");
  const [amount, setAmount] = useState("25.00");
  const cents = Math.round(Number(amount) * 100);
  const valid = description.trim() !== "" && Number.isFinite(cents) && cents >= 1;
  const submit = (event) => {
    event.preventDefault();
    if (!valid) return;
    create({ description: description.trim(), amountCents: cents }).then(() => setDescription(""));
  };
  return (
    <form className="inline" onSubmit={submit}>
      <input
        data-testid="order-description"
        placeholder="new order"
        value={description}
        onChange={(e) => setDescription(e.target.value)}
      />
      <input
        data-testid="order-amount"
        className="amount"
        type="number"
        min="0.01"
        step="0.01"
        value={amount}
        onChange={(e) => setAmount(e.target.value)}
      />
      <button type="submit" data-testid="create-order" disabled={!valid}>
        Create order
      </button>
    </form>
  );
}
