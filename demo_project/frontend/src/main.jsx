// Entry point: one ReactiveClient (one WebSocket) for the whole page, shared through the provider.

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ReactiveClient } from "reactive/client.js";
import { ReactiveProvider } from "reactive/react.js";
import { App } from "./App.jsx";

const client = new ReactiveClient(window.location.origin);
window.reactiveClient = client; // handy in the browser console: reactiveClient.query("users:list", {})

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <ReactiveProvider client={client}>
      <App />
    </ReactiveProvider>
  </StrictMode>,
);
