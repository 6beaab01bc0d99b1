// A titled box with its own error boundary: a failing query (useQuery throws it) breaks one
// panel, not the page.

import { Component } from "react";

export function Panel({ title, className = "", children }) {
  return (
    <section className={`panel ${className}`}>
      <h2>{title}</h2>
      <ErrorBoundary>{children}</ErrorBoundary>
    </section>
  );
}

class ErrorBoundary extends Component {
  state = { error: null };

  static getDerivedStateFromError(error) {
    return { error };
  }

  render() {
    const { error } = this.state;
    if (error === null) return this.props.children;
    return (
      <div className="error" data-testid="panel-error">
        <p>{error.message}</p>
        <button type="button" onClick={() => this.setState({ error: null })}>
          Try again
        </button>
      </div>
    );
  }
}
