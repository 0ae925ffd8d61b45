// Live tail over the `/loki/api/v1/tail` websocket. Pausing keeps the socket open and
// holds arriving frames back (counted on screen); resuming shows them in order, so
// nothing is lost while paused (up to a cap, past which the oldest held lines drop).

import { tailUrl } from './api.js';

const MAX_HELD_ENTRIES = 10000;

export class LiveTail {
  /** `onStreams(streams)` shows entries; `onState({state, held, message})` updates the bar. */
  constructor({ onStreams, onState }) {
    this.onStreams = onStreams;
    this.onState = onState;
    this.socket = null;
    this.paused = false;
    this.held = [];
    this.heldEntries = 0;
    this.received = 0;
  }

  get running() {
    return this.socket !== null;
  }

  start(query, startNs, limit) {
    this.stop();
    this.paused = false;
    this.held = [];
    this.heldEntries = 0;
    this.received = 0;
    const socket = new WebSocket(tailUrl(query, startNs, limit));
    this.socket = socket;
    this.report('connecting');
    socket.addEventListener('open', () => this.report('live'));
    socket.addEventListener('message', (event) => this.message(event));
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return; // a stopped or replaced socket
      this.socket = null;
      const reason = event.reason || (event.code === 1000 ? '' : `connection closed (code ${event.code})`);
      this.report(reason ? 'error' : 'stopped', reason);
    });
  }

  message(event) {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    const streams = frame.streams || [];
    let count = 0;
    for (const stream of streams) count += (stream.values || []).length;
    this.received += count;
    if (this.paused) {
      this.held.push(streams);
      this.heldEntries += count;
      while (this.heldEntries > MAX_HELD_ENTRIES && this.held.length > 1) {
        const dropped = this.held.shift();
        for (const stream of dropped) this.heldEntries -= (stream.values || []).length;
      }
      this.report('paused');
      return;
    }
    this.onStreams(streams);
    this.report('live');
  }

  pause() {
    if (!this.running) return;
    this.paused = true;
    this.report('paused');
  }

  resume() {
    if (!this.running) return;
    this.paused = false;
    const held = this.held;
    this.held = [];
    this.heldEntries = 0;
    for (const streams of held) this.onStreams(streams);
    this.report('live');
  }

  stop() {
    const socket = this.socket;
    this.socket = null;
    this.paused = false;
    this.held = [];
    this.heldEntries = 0;
    if (socket) {
      socket.close(1000);
      this.report('stopped');
    }
  }

  report(state, message = '') {
    this.onState({ state, held: this.heldEntries, received: this.received, message });
  }
}
