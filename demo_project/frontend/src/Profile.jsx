// A user profile: users:get runs only once a user is picked; until then its args are "skip"
// and nothing is subscribed.

import { useState } from "react";
import { useQuery } from "reactive/react.js";
import { day } from "./format.js";

export function Profile() {
  const users = useQuery("users:list", {});
  const [userId, setUserId] = useState(null);
  const user = useQuery("users:get", userId === null ? "skip" : { userId });
  return (
    <div className="profile">
      <select
        data-testid="user-select"
        value={userId ?? ""}
        onChange={(e) => setUserId(e.target.value === "" ? null : Number(e.target.value))}
      >
        <option value="">— pick a user —</option>
        {(users ?? []).map((u) => (
          <option key={u._id} value={u._id}>
            {u.username}
          </option>
        ))}
      </select>
      <div data-testid="user-profile">
        {userId === null ? (
          <p className="muted">No user selected: users:get is skipped.</p>
        ) : user === undefined ? (
          <p className="muted">Loading…</p>
        ) : user === null ? (
          <p className="muted">No such user.</p>
        ) : (
          <dl>
            <dt>Name</dt>
            <dd data-testid="profile-username">{user.username}</dd>
            <dt>Id</dt>
            <dd>{user._id}</dd>
            <dt>Joined</dt>
            <dd>{day(user.dateJoined)}</dd>
          </dl>
        )}
      </div>
    </div>
  );
}
