// "connecting" until the first connection, "connected", or "disconnected" while reconnecting.

import { useConnectionState } from "reactive/react.js";

export function ConnectionBadge() {
  const state = useConnectionState();
  return (
    <span className={`badge badge-${state}`} data-testid="connection-status" title="WebSocket connection">
      {state}
    </span>
  );
}
