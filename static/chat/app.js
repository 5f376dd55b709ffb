// The chat page (docs/page.md). Plain JavaScript, no build step.
//
// What the user sees is derived from one rule: every room keeps its messages
// keyed by `seq`, and `synced` is the highest seq up to which the page holds
// every message without a hole. Anything that could leave a hole (a dropped
// socket, a seq jump seen live) is repaired with `resume`, and with REST pages
// for rooms the server reports as truncated. Messages are never inserted
// twice because they are keyed by seq; own messages are pending (keyed by
// client_id) until the server acknowledges them.
//
// Message bodies and names only ever reach the DOM through textContent.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("chat-config").textContent);
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const me = config.user;

  const TYPING_SEND_EVERY = 3000;
  const TYPING_SHOW_FOR = 5000;
  const PING_EVERY = 20000;
  const SILENCE_LIMIT = 45000;
  const ACK_TIMEOUT = 10000;
  const BACKOFF_BASE = 500;
  const BACKOFF_CAP = 30000;
  const PAGE = 50;
  const GROUP_GAP_MS = 5 * 60 * 1000;

  // --- state -------------------------------------------------------------

  const rooms = new Map(); // room id -> room state (see roomState)
  const online = new Set(); // user ids known to be online
  const outbox = loadOutbox(); // client_id -> {clientId, room, body, state, error, sentAt}
  let openRoomId = null;
  let socket = null;
  let socketReady = false; // hello received on the current socket
  let attempt = 0;
  let reconnectTimer = null;
  let pingTimer = null;
  let lastFrameAt = 0;
  let lastTypingSentAt = 0;
  let editing = null; // {id, node}
  let signedOut = false;
  let reportTarget = null;

  function roomState(data) {
    return {
      id: data.id,
      name: data.name,
      kind: data.kind || "group",
      members: [],
      lastSeq: data.last_seq || 0,
      lastReadSeq: data.last_read_seq || 0,
      loaded: false,
      loading: false,
      msgs: new Map(),
      floor: 0, // seq below the oldest message held (0 = from the start)
      synced: 0,
      hasOlder: false,
      repairing: false,
      readers: new Map(), // user id -> {username, seq}
      typing: new Map(), // user id -> {username, timer}
    };
  }

  // --- elements ----------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  const el = {
    app: $("app"),
    groupList: $("group-list"),
    directList: $("direct-list"),
    noRooms: $("no-rooms"),
    title: $("room-title"),
    meta: $("room-meta"),
    messages: $("messages"),
    list: $("message-list"),
    placeholder: $("room-placeholder"),
    loadOlder: $("load-older"),
    historyStart: $("history-start"),
    typing: $("typing"),
    composer: $("composer"),
    input: $("composer-input"),
    send: $("send-button"),
    banner: $("conn-banner"),
    bannerText: $("conn-text"),
    retry: $("conn-retry"),
    dot: $("conn-dot"),
  };
  $("me-name").textContent = me.username;

  function node(tag, className, text) {
    const n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // --- REST --------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    if (response.status === 401 || (response.status === 403 && path.startsWith("/api/me"))) {
      showSignedOut();
    }
    if (!response.ok) {
      const error = new Error(errorText(data, response.status));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function errorText(data, status) {
    if (data && typeof data.detail === "string") return data.detail;
    if (data && typeof data === "object") {
      const first = Object.values(data)[0];
      if (Array.isArray(first) && first.length) return String(first[0]);
    }
    return `The server answered ${status}.`;
  }

  // --- outbox (pending sends survive reconnects and reloads) ---------------

  function outboxKey() {
    return `chat.outbox.${me.id}`;
  }

  function loadOutbox() {
    const map = new Map();
    try {
      const saved = JSON.parse(localStorage.getItem(`chat.outbox.${me.id}`) || "[]");
      for (const item of saved) map.set(item.clientId, { ...item, sentAt: 0 });
    } catch (e) {
      /* storage unavailable or corrupt: start empty */
    }
    return map;
  }

  function saveOutbox() {
    try {
      const items = [...outbox.values()].map(({ clientId, room, body, state, error }) => ({
        clientId,
        room,
        body,
        state,
        error,
      }));
      localStorage.setItem(outboxKey(), JSON.stringify(items));
    } catch (e) {
      /* private mode: pending messages then live as long as the page */
    }
  }

  function newClientId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // --- websocket -----------------------------------------------------------

  function connect() {
    if (signedOut) return;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/chat/`);
    socket = ws;
    socketReady = false;
    setConnection(attempt ? "reconnecting-now" : "connecting");
    ws.onmessage = (event) => {
      if (ws !== socket) return;
      lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handleFrame(frame);
    };
    ws.onclose = (event) => {
      if (ws !== socket) return;
      socket = null;
      socketReady = false;
      clearInterval(pingTimer);
      if (event.code === 4003) {
        showSignedOut("Your account has been deactivated.");
        return;
      }
      scheduleReconnect();
    };
  }

  function dropSocket() {
    // Close the socket we have and go through the normal reconnect path.
    if (socket) {
      const ws = socket;
      socket = null;
      socketReady = false;
      clearInterval(pingTimer);
      try {
        ws.close(4000, "client reconnects");
      } catch (e) {
        /* already closed */
      }
    }
  }

  function scheduleReconnect() {
    if (signedOut || reconnectTimer) return;
    // Exponential backoff with full jitter, so that a restarted server is
    // not hit by every client at the same instant.
    const cap = Math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ** Math.min(attempt, 10));
    const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
    attempt += 1;
    const due = Date.now() + delay;
    setConnection(navigator.onLine === false ? "offline" : "reconnecting", due);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      if (navigator.onLine === false) {
        // No network: the "online" event reconnects at once when it is back.
        setConnection("offline");
        return;
      }
      if (attempt > 2) checkSession();
      connect();
    }, delay);
  }

  async function checkSession() {
    // A refused handshake looks like any other failure to the browser; the
    // REST API tells a lost session apart.
    try {
      await api("GET", "/api/me/");
    } catch (e) {
      /* showSignedOut ran for 401/403; other errors: keep retrying */
    }
  }

  function reconnectNow() {
    if (signedOut) return;
    attempt = 0;
    dropSocket();
    connect();
  }

  function sendFrame(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function startHeartbeat() {
    clearInterval(pingTimer);
    pingTimer = setInterval(() => {
      if (Date.now() - lastFrameAt > SILENCE_LIMIT) {
        // A half-open connection: nothing arrives, nothing errors. Start over.
        dropSocket();
        scheduleReconnect();
        return;
      }
      sendFrame({ type: "ping" });
      resendStalePending();
    }, PING_EVERY);
  }

  window.addEventListener("offline", () => {
    dropSocket();
    scheduleReconnect();
  });
  window.addEventListener("online", () => reconnectNow());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      if (!socket && !signedOut) reconnectNow();
      markReadSoon();
    }
  });

  // --- connection status -----------------------------------------------------

  let countdownTimer = null;

  function setConnection(state, due) {
    clearInterval(countdownTimer);
    const labels = {
      connecting: "Connecting…",
      online: "Connected",
      "reconnecting-now": "Reconnecting…",
      reconnecting: "Connection lost. Reconnecting…",
      offline: "You are offline. Reconnecting when the network is back…",
    };
    el.dot.dataset.state = state;
    el.dot.title = labels[state] || state;
    document.body.dataset.connection = state;
    if (state === "online") {
      el.banner.hidden = true;
      return;
    }
    if (state === "connecting") {
      // The first connection is usually instant; do not flash a banner.
      el.banner.hidden = true;
      return;
    }
    el.banner.hidden = false;
    el.banner.dataset.state = state;
    el.retry.hidden = state !== "reconnecting" && state !== "offline";
    const update = () => {
      let text = labels[state];
      if (due && state === "reconnecting") {
        const seconds = Math.max(0, Math.ceil((due - Date.now()) / 1000));
        text = `Connection lost. Reconnecting in ${seconds} s…`;
      }
      el.bannerText.textContent = text;
    };
    update();
    if (due) countdownTimer = setInterval(update, 500);
  }

  function showSignedOut(reason) {
    signedOut = true;
    clearTimeout(reconnectTimer);
    dropSocket();
    clearInterval(countdownTimer);
    el.banner.hidden = false;
    el.banner.dataset.state = "signed-out";
    el.bannerText.textContent = `${reason || "You have been signed out."} `;
    el.retry.hidden = true;
    const link = node("a", "link", "Sign in");
    link.href = `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
    el.bannerText.append(link);
    el.input.disabled = true;
    el.send.disabled = true;
  }

  el.retry.addEventListener("click", reconnectNow);

  // --- frames from the server ------------------------------------------------

  function handleFrame(frame) {
    switch (frame.type) {
      case "hello":
        return onHello(frame);
      case "message.new":
        return onMessage(frame.message, false);
      case "message.updated":
        return onMessage(frame.message, true);
      case "message.ack":
        return onAck(frame);
      case "read":
        return onRead(frame);
      case "typing":
        return onTyping(frame);
      case "presence":
        return onPresence(frame);
      case "room.joined":
        return onJoined(frame.room);
      case "room.left":
        return onLeft(frame.room);
      case "resume.done":
        return onResumeDone(frame);
      case "error":
        return onError(frame);
      default:
        return undefined; // pong, and frame types added later
    }
  }

  function onHello(frame) {
    socketReady = true;
    attempt = 0;
    setConnection("online");
    startHeartbeat();
    const seen = new Set();
    for (const data of frame.rooms) {
      seen.add(data.id);
      let room = rooms.get(data.id);
      if (!room) {
        room = roomState(data);
        rooms.set(data.id, room);
      } else {
        room.name = data.name;
      }
      room.lastSeq = Math.max(room.lastSeq, data.last_seq);
      room.lastReadSeq = data.last_read_seq;
    }
    for (const id of [...rooms.keys()]) if (!seen.has(id)) forgetRoom(id);
    // Fill every gap the outage left in the rooms we hold history for.
    const wanted = {};
    for (const room of rooms.values()) {
      if (room.loaded) {
        wanted[room.id] = room.synced;
        room.repairing = true;
      }
    }
    if (Object.keys(wanted).length) sendFrame({ type: "resume", rooms: wanted });
    // Edits and deletions made while away do not change seq; refresh the
    // newest page of the open room to pick them up.
    if (openRoomId && rooms.get(openRoomId)?.loaded) refreshNewest(rooms.get(openRoomId));
    resendPending(true);
    refreshRoomDetails();
    renderRooms();
    if (!openRoomId) openInitialRoom();
    else renderOpenRoomHeader();
  }

  function onMessage(message, isUpdate) {
    const room = rooms.get(message.room);
    if (!room) return;
    if (message.author.id === me.id && outbox.has(message.client_id)) {
      settlePending(message.client_id);
    }
    if (message.seq > room.lastSeq) {
      room.lastSeq = message.seq;
      if (message.author.id === me.id) room.lastReadSeq = Math.max(room.lastReadSeq, message.seq);
    }
    stopTyping(room, message.author.id);
    // While the first page is on its way, keep what the socket brings too:
    // the page may have been read before this message was stored.
    if ((room.loaded || room.loading) && (message.seq > room.floor || isUpdate)) {
      storeMessage(room, message);
      advance(room);
    }
    if (room.id === openRoomId) markReadSoon();
    renderRoomItem(room);
  }

  function onAck(frame) {
    const message = frame.message;
    settlePending(frame.client_id);
    onMessage(message, false);
  }

  function onError(frame) {
    if (frame.client_id && outbox.has(frame.client_id)) {
      const item = outbox.get(frame.client_id);
      if (frame.code === "rate_limited") {
        // Not a refusal: try the same client_id again shortly.
        item.sentAt = 0;
        setTimeout(() => resendPending(false), 1500 + Math.random() * 1000);
        return;
      }
      item.state = "failed";
      item.error = failureText(frame.code, frame.detail);
      saveOutbox();
      renderPending(item);
    }
    // Errors without a pending send (a typing or read frame for a room just
    // left) need nothing: room.left brings the list up to date.
  }

  function failureText(code, detail) {
    const texts = {
      muted: "A moderator has muted you in this room.",
      too_long: `Too long: at most ${config.maxBody} characters.`,
      not_member: "You are no longer a member of this room.",
    };
    return texts[code] || detail || "Could not be sent.";
  }

  function onRead(frame) {
    const room = rooms.get(frame.room);
    if (!room) return;
    if (frame.user.id === me.id) {
      // Another tab or device of mine read the room.
      room.lastReadSeq = Math.max(room.lastReadSeq, frame.seq);
      renderRoomItem(room);
      return;
    }
    room.readers.set(frame.user.id, { username: frame.user.username, seq: frame.seq });
    if (room.id === openRoomId) renderReadMarkers(room);
  }

  function onTyping(frame) {
    const room = rooms.get(frame.room);
    if (!room || frame.user.id === me.id) return;
    const previous = room.typing.get(frame.user.id);
    if (previous) clearTimeout(previous.timer);
    const timer = setTimeout(() => stopTyping(room, frame.user.id), TYPING_SHOW_FOR);
    room.typing.set(frame.user.id, { username: frame.user.username, timer });
    if (room.id === openRoomId) renderTyping(room);
  }

  function stopTyping(room, userId) {
    const entry = room.typing.get(userId);
    if (!entry) return;
    clearTimeout(entry.timer);
    room.typing.delete(userId);
    if (room.id === openRoomId) renderTyping(room);
  }

  function onPresence(frame) {
    if (frame.status === "online") online.add(frame.user.id);
    else online.delete(frame.user.id);
    renderRooms();
    renderOpenRoomHeader();
  }

  function onJoined(data) {
    let room = rooms.get(data.id);
    if (!room) {
      room = roomState(data);
      rooms.set(data.id, room);
    } else {
      room.lastSeq = Math.max(room.lastSeq, data.last_seq);
    }
    refreshRoomDetails();
    renderRooms();
    if (pendingOpen === data.id) openRoom(data.id);
  }

  function onLeft(data) {
    forgetRoom(data.id);
    renderRooms();
  }

  function forgetRoom(id) {
    rooms.delete(id);
    for (const item of [...outbox.values()]) {
      if (item.room === id) outbox.delete(item.clientId);
    }
    saveOutbox();
    if (openRoomId === id) {
      openRoomId = null;
      renderOpenRoom();
      setStatusNote("You are no longer a member of that room.");
    }
  }

  function onResumeDone(frame) {
    const truncated = new Set((frame.truncated || []).map(Number));
    for (const room of rooms.values()) {
      if (!room.repairing) continue;
      room.repairing = false;
      if (truncated.has(room.id)) fillOverRest(room);
      else advance(room);
    }
  }

  // --- history and gap repair --------------------------------------------------

  function storeMessage(room, message) {
    const previous = room.msgs.get(message.seq);
    // message.updated can arrive before a stale page of history; keep the newest state.
    if (previous && stateRank(previous) > stateRank(message)) return;
    room.msgs.set(message.seq, message);
    if (room.id === openRoomId) renderMessage(room, message);
  }

  function stateRank(message) {
    if (message.deleted) return 3;
    return message.edited_at ? 2 : 1;
  }

  function advance(room) {
    while (room.msgs.has(room.synced + 1)) room.synced += 1;
    if (room.synced < room.lastSeq && !room.repairing) {
      // A hole: either seq jumped live or we are behind the room. Same repair.
      if (socketReady && sendFrame({ type: "resume", rooms: { [room.id]: room.synced } })) {
        room.repairing = true;
      }
    }
    if (room.id === openRoomId) renderReadMarkers(room);
  }

  async function fillOverRest(room) {
    // resume refused a gap too large to replay; page it in over REST.
    room.repairing = true;
    try {
      for (let pages = 0; pages < 50; pages += 1) {
        const data = await api(
          "GET",
          `/api/rooms/${room.id}/messages/?after=${room.synced}&limit=200`,
        );
        for (const m of data.results) storeMessage(room, m);
        const before = room.synced;
        while (room.msgs.has(room.synced + 1)) room.synced += 1;
        if (!data.has_more || room.synced === before) break;
      }
    } catch (e) {
      setStatusNote("Could not load missed messages; retrying on the next connection.");
    } finally {
      room.repairing = false;
      advance(room);
    }
  }

  async function loadNewest(room) {
    room.loading = true;
    try {
      const data = await api("GET", `/api/rooms/${room.id}/messages/?limit=${PAGE}`);
      const results = data.results;
      // An empty newest page means the room had no messages when it was read;
      // whatever the socket delivered since then lies above the floor.
      room.floor = results.length ? results[0].seq - 1 : 0;
      room.synced = room.floor;
      // Keep what the socket delivered while the page was on its way.
      const live = [...room.msgs.values()].filter((m) => m.seq > room.floor);
      room.msgs = new Map();
      for (const m of results) room.msgs.set(m.seq, m);
      for (const m of live) if (!room.msgs.has(m.seq) || stateRank(m) > stateRank(room.msgs.get(m.seq))) room.msgs.set(m.seq, m);
      room.hasOlder = data.has_more;
      room.loaded = true;
      if (results.length) room.lastSeq = Math.max(room.lastSeq, results[results.length - 1].seq);
      advance(room);
    } finally {
      room.loading = false;
    }
  }

  async function refreshNewest(room) {
    try {
      const data = await api("GET", `/api/rooms/${room.id}/messages/?limit=${PAGE}`);
      for (const m of data.results) if (m.seq > room.floor) storeMessage(room, m);
      advance(room);
    } catch (e) {
      /* the next reconnect tries again */
    }
  }

  async function loadOlder(room) {
    if (!room.hasOlder || room.loading || room.floor <= 0) return;
    room.loading = true;
    el.loadOlder.disabled = true;
    const oldHeight = el.messages.scrollHeight;
    const oldTop = el.messages.scrollTop;
    try {
      const data = await api(
        "GET",
        `/api/rooms/${room.id}/messages/?before=${room.floor + 1}&limit=${PAGE}`,
      );
      if (openRoomId !== room.id) return;
      for (const m of data.results) {
        if (!room.msgs.has(m.seq)) room.msgs.set(m.seq, m);
      }
      room.floor = data.results.length ? data.results[0].seq - 1 : 0;
      room.hasOlder = data.has_more && room.floor > 0;
      renderOpenRoom(true);
      el.messages.scrollTop = el.messages.scrollHeight - oldHeight + oldTop;
    } catch (e) {
      setStatusNote("Could not load earlier messages.");
    } finally {
      room.loading = false;
      el.loadOlder.disabled = false;
    }
  }

  // On touch screens there is no hover: a tap on a message shows its buttons.
  el.list.addEventListener("click", (event) => {
    if (event.target.closest("button, textarea, a")) return;
    const li = event.target.closest("li.message");
    for (const other of el.list.querySelectorAll("li.selected")) {
      if (other !== li) other.classList.remove("selected");
    }
    if (li) li.classList.toggle("selected");
  });

  el.loadOlder.addEventListener("click", () => {
    const room = rooms.get(openRoomId);
    if (room) loadOlder(room);
  });
  el.messages.addEventListener("scroll", () => {
    const room = rooms.get(openRoomId);
    if (room && el.messages.scrollTop < 150) loadOlder(room);
    if (atBottom()) markReadSoon();
  });

  // --- sending -----------------------------------------------------------------

  function sendMessage(body) {
    const room = rooms.get(openRoomId);
    if (!room) return;
    const item = { clientId: newClientId(), room: room.id, body, state: "pending", sentAt: 0 };
    outbox.set(item.clientId, item);
    saveOutbox();
    renderPending(item);
    scrollToBottom();
    transmit(item);
  }

  function transmit(item) {
    if (!socketReady) return;
    if (sendFrame({ type: "message.send", room: item.room, body: item.body, client_id: item.clientId })) {
      item.sentAt = Date.now();
    }
  }

  function resendPending(all) {
    for (const item of outbox.values()) {
      if (item.state !== "pending") continue;
      if (all || !item.sentAt) transmit(item);
    }
  }

  function resendStalePending() {
    // The same client_id is safe to send again: the server stores it once.
    const now = Date.now();
    for (const item of outbox.values()) {
      if (item.state === "pending" && item.sentAt && now - item.sentAt > ACK_TIMEOUT) transmit(item);
    }
  }

  function settlePending(clientId) {
    if (!outbox.has(clientId)) return;
    outbox.delete(clientId);
    saveOutbox();
    const pendingNode = el.list.querySelector(`[data-client-id="${CSS.escape(clientId)}"]`);
    if (pendingNode) pendingNode.remove();
  }

  el.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    submitComposer();
  });

  function submitComposer() {
    const body = el.input.value;
    if (!body.trim() || !openRoomId) return;
    if (body.trim().length > config.maxBody) {
      setStatusNote(`A message can have at most ${config.maxBody} characters.`);
      return;
    }
    sendMessage(body);
    el.input.value = "";
    autosize();
    lastTypingSentAt = 0;
  }

  el.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitComposer();
    } else if (event.key === "ArrowUp" && !el.input.value) {
      const room = rooms.get(openRoomId);
      const mine = room && [...room.msgs.values()].filter((m) => m.author.id === me.id && !m.deleted);
      if (mine && mine.length) {
        event.preventDefault();
        mine.sort((a, b) => a.seq - b.seq);
        startEdit(room, mine[mine.length - 1]);
      }
    }
  });

  el.input.addEventListener("input", () => {
    autosize();
    if (!openRoomId || !el.input.value.trim()) return;
    const now = Date.now();
    if (now - lastTypingSentAt > TYPING_SEND_EVERY && socketReady) {
      lastTypingSentAt = now;
      sendFrame({ type: "typing", room: openRoomId });
    }
  });

  function autosize() {
    el.input.style.height = "auto";
    el.input.style.height = `${Math.min(el.input.scrollHeight, 180)}px`;
  }

  // --- read markers ------------------------------------------------------------

  let readTimer = null;
  function markReadSoon() {
    clearTimeout(readTimer);
    readTimer = setTimeout(markRead, 300);
  }

  function markRead() {
    const room = rooms.get(openRoomId);
    if (!room || !room.loaded || document.visibilityState !== "visible" || !atBottom()) return;
    const seq = room.synced;
    if (seq > room.lastReadSeq && sendFrame({ type: "message.read", room: room.id, seq })) {
      room.lastReadSeq = seq;
      renderRoomItem(room);
    }
  }

  // --- rooms list ----------------------------------------------------------------

  async function refreshRoomDetails() {
    // kind and members come from REST; hello carries only counters.
    try {
      const data = await api("GET", "/api/rooms/");
      const list = Array.isArray(data) ? data : data.results || [];
      for (const item of list) {
        const room = rooms.get(item.id);
        if (!room) continue;
        room.kind = item.kind || room.kind;
        room.members = normaliseMembers(item.members);
      }
      renderRooms();
      renderOpenRoomHeader();
      loadPresence();
    } catch (e) {
      /* the list still works with names and counters */
    }
  }

  async function loadPresence() {
    // Who is online among the people of direct chats, for the list's dots;
    // presence frames keep it current from here on.
    const ids = new Set();
    for (const room of rooms.values()) {
      if (room.kind !== "direct") continue;
      const peer = directPeer(room);
      if (peer) ids.add(peer.id);
    }
    if (!ids.size) return;
    try {
      const data = await api("GET", `/people/?ids=${[...ids].slice(0, 200).join(",")}`);
      for (const person of data.results) {
        if (person.online) online.add(person.id);
        else online.delete(person.id);
      }
      renderRooms();
      renderOpenRoomHeader();
    } catch (e) {
      /* dots then follow presence frames only */
    }
  }

  function normaliseMembers(members) {
    if (!Array.isArray(members)) return [];
    return members
      .map((m) => (typeof m === "object" && m ? { id: m.id ?? m.user?.id, username: m.username ?? m.user?.username } : { id: m }))
      .filter((m) => m.id !== undefined);
  }

  async function loadMembers(room) {
    // Names, presence and read markers of the room's members (chat/web/views.py).
    try {
      const data = await api("GET", `/people/?room=${room.id}`);
      room.members = data.results.map((p) => ({ id: p.id, username: p.username }));
      for (const person of data.results) {
        if (person.online) online.add(person.id);
        else online.delete(person.id);
        if (person.id !== me.id && person.last_read_seq) {
          const known = room.readers.get(person.id);
          if (!known || known.seq < person.last_read_seq) {
            room.readers.set(person.id, { username: person.username, seq: person.last_read_seq });
          }
        }
      }
      renderRooms();
      if (room.id === openRoomId) {
        renderOpenRoomHeader();
        renderReadMarkers(room);
      }
    } catch (e) {
      /* presence and markers then fill in from live frames */
    }
  }

  function directPeer(room) {
    return room.members.find((m) => m.id !== me.id);
  }

  function displayName(room) {
    if (room.kind === "direct") {
      const peer = directPeer(room);
      if (peer && peer.username) return peer.username;
    }
    return room.name;
  }

  function unread(room) {
    return Math.max(room.lastSeq - room.lastReadSeq, 0);
  }

  function renderRooms() {
    const groups = [];
    const directs = [];
    for (const room of rooms.values()) (room.kind === "direct" ? directs : groups).push(room);
    const byName = (a, b) => displayName(a).localeCompare(displayName(b));
    fillRoomList(el.groupList, groups.sort(byName));
    fillRoomList(el.directList, directs.sort(byName));
    el.noRooms.hidden = rooms.size > 0;
    updateTitle();
  }

  function fillRoomList(list, items) {
    list.replaceChildren(...items.map(roomItem));
  }

  function roomItem(room) {
    const li = node("li");
    li.dataset.roomId = room.id;
    const button = node("button", "room-item");
    button.type = "button";
    if (room.id === openRoomId) button.setAttribute("aria-current", "true");
    if (room.kind === "direct") {
      const peer = directPeer(room);
      const dot = node("span", "presence");
      const isOnline = peer && online.has(peer.id);
      dot.dataset.online = isOnline ? "yes" : "no";
      dot.title = isOnline ? "Online" : "Offline";
      button.append(dot);
    } else {
      button.append(node("span", "room-hash", "#"));
    }
    button.append(node("span", "room-name", displayName(room)));
    const count = unread(room);
    if (count && room.id !== openRoomId) {
      const badge = node("span", "badge", count > 99 ? "99+" : String(count));
      badge.setAttribute("aria-label", `${count} unread`);
      button.append(badge);
      button.classList.add("has-unread");
    }
    button.addEventListener("click", () => openRoom(room.id, true));
    li.append(button);
    return li;
  }

  function renderRoomItem(room) {
    const old = document.querySelector(`.room-list li[data-room-id="${room.id}"]`);
    if (old) old.replaceWith(roomItem(room));
    else renderRooms();
    updateTitle();
  }

  function updateTitle() {
    let total = 0;
    for (const room of rooms.values()) if (room.id !== openRoomId) total += unread(room);
    const open = rooms.get(openRoomId);
    const base = open ? `${displayName(open)} · Chat` : "Chat";
    document.title = total ? `(${total}) ${base}` : base;
  }

  // --- the open room -------------------------------------------------------------

  let pendingOpen = null;

  function openInitialRoom() {
    const wanted = Number(new URLSearchParams(location.search).get("room"));
    if (wanted && rooms.has(wanted)) {
      openRoom(wanted, false);
      return;
    }
    if (wanted) setStatusNote("That room does not exist or you are not a member of it.");
    const first = [...rooms.values()].sort((a, b) => a.id - b.id)[0];
    if (first && window.matchMedia("(min-width: 721px)").matches) openRoom(first.id, false);
  }

  async function openRoom(id, focusComposer) {
    const room = rooms.get(id);
    if (!room) {
      pendingOpen = id; // announced by room.joined shortly
      return;
    }
    pendingOpen = null;
    cancelEdit();
    openRoomId = id;
    el.app.dataset.view = "room";
    const url = new URL(location.href);
    url.searchParams.set("room", String(id));
    history.replaceState(null, "", url);
    renderRooms();
    renderOpenRoomHeader();
    renderOpenRoom();
    el.input.disabled = false;
    el.send.disabled = false;
    el.input.placeholder = `Message ${room.kind === "direct" ? displayName(room) : "#" + room.name}`;
    if (focusComposer) el.input.focus();
    loadMembers(room);
    if (!room.loaded && !room.loading) {
      try {
        await loadNewest(room);
      } catch (e) {
        setStatusNote("Could not load this room's messages.");
        return;
      }
      if (openRoomId === id) {
        renderOpenRoom();
        scrollToBottom();
      }
    }
    if (openRoomId === id) {
      scrollToBottom();
      markReadSoon();
    }
  }

  function renderOpenRoomHeader() {
    const room = rooms.get(openRoomId);
    if (!room) {
      el.title.textContent = "Pick a room";
      el.meta.textContent = "";
      return;
    }
    el.title.textContent = room.kind === "direct" ? displayName(room) : `# ${room.name}`;
    if (room.kind === "direct") {
      const peer = directPeer(room);
      el.meta.textContent = peer ? (online.has(peer.id) ? "Online" : "Offline") : "";
    } else {
      const count = room.members.length;
      const here = room.members.filter((m) => online.has(m.id)).length;
      el.meta.textContent = count ? `${count} members · ${here} online` : "";
    }
  }

  function renderOpenRoom(keepScroll) {
    const room = rooms.get(openRoomId);
    el.list.replaceChildren();
    el.placeholder.hidden = Boolean(room);
    el.typing.textContent = "";
    if (!room) {
      el.loadOlder.hidden = true;
      el.historyStart.hidden = true;
      el.app.dataset.view = "list";
      el.input.disabled = true;
      el.send.disabled = true;
      renderOpenRoomHeader();
      return;
    }
    const seqs = [...room.msgs.keys()].filter((s) => s > room.floor).sort((a, b) => a - b);
    for (const seq of seqs) renderMessage(room, room.msgs.get(seq));
    for (const item of outbox.values()) if (item.room === room.id) renderPending(item);
    el.loadOlder.hidden = !room.loaded || !room.hasOlder;
    el.historyStart.hidden = !room.loaded || room.hasOlder;
    renderReadMarkers(room);
    renderTyping(room);
    if (!keepScroll) scrollToBottom();
  }

  function messageNode(seq) {
    return el.list.querySelector(`li[data-seq="${seq}"]`);
  }

  function renderMessage(room, message) {
    if (message.seq <= room.floor) return;
    const stick = atBottom();
    const li = buildMessage(room, message);
    const existing = messageNode(message.seq);
    if (existing) {
      if (existing.contains(document.activeElement) && editing && editing.id === message.id) return;
      existing.replaceWith(li);
    } else {
      // Insert in seq order, before the first later message (or the pending ones).
      let before = el.list.querySelector("li.pending");
      for (const child of el.list.querySelectorAll("li[data-seq]")) {
        if (Number(child.dataset.seq) > message.seq) {
          before = child;
          break;
        }
      }
      el.list.insertBefore(li, before);
    }
    regroup(li);
    if (li.nextElementSibling) regroup(li.nextElementSibling);
    if (stick) scrollToBottom();
  }

  function regroup(li) {
    // Consecutive messages of one author within a few minutes share a header;
    // the first message of each day carries the day's date above it.
    const prev = li.previousElementSibling;
    const day = new Date(Number(li.dataset.time)).toDateString();
    const newDay = !prev || new Date(Number(prev.dataset.time)).toDateString() !== day;
    li.classList.toggle("new-day", newDay);
    if (newDay) li.dataset.day = dayLabel(new Date(Number(li.dataset.time)));
    const same =
      !newDay &&
      prev.dataset.author === li.dataset.author &&
      Number(li.dataset.time) - Number(prev.dataset.time) < GROUP_GAP_MS;
    li.classList.toggle("continued", Boolean(same));
  }

  function dayLabel(date) {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (date.toDateString() === today.toDateString()) return "Today";
    if (date.toDateString() === yesterday.toDateString()) return "Yesterday";
    const sameYear = date.getFullYear() === today.getFullYear();
    return date.toLocaleDateString([], { weekday: "long", month: "long", day: "numeric", year: sameYear ? undefined : "numeric" });
  }

  function buildMessage(room, message) {
    const li = node("li", "message");
    li.dataset.seq = message.seq;
    li.dataset.id = message.id;
    li.dataset.author = message.author.id;
    const when = new Date(message.created_at);
    li.dataset.time = String(when.getTime());
    if (message.author.id === me.id) li.classList.add("own");
    if (message.deleted) li.classList.add("deleted");
    // A stable colour per person for the avatar (a CSS variable, not inline markup).
    li.style.setProperty("--hue", String((message.author.id * 67) % 360));

    const head = node("div", "message-head");
    const author = node("span", "author", message.author.username);
    author.dataset.initial = message.author.username.slice(0, 1).toUpperCase();
    head.append(author);
    const time = node("time", "time", formatTime(when));
    time.dateTime = message.created_at;
    time.title = when.toLocaleString();
    head.append(time);
    li.append(head);

    const body = node("div", "body");
    if (message.deleted) {
      body.textContent = "This message was deleted.";
    } else {
      body.textContent = message.body;
      if (message.edited_at) body.append(node("span", "edited", " (edited)"));
    }
    li.append(body);

    if (!message.deleted) {
      const actions = node("div", "message-actions");
      if (message.author.id === me.id) {
        actions.append(actionButton("Edit", `Edit your message`, () => startEdit(room, message)));
        actions.append(deleteButton(message));
      } else {
        if (config.isModerator) actions.append(deleteButton(message));
        actions.append(actionButton("Report", `Report this message by ${message.author.username}`, () => openReport(message)));
      }
      li.append(actions);
    }
    li.append(node("div", "read-by"));
    return li;
  }

  function actionButton(label, aria, onClick) {
    const b = node("button", "link", label);
    b.type = "button";
    b.setAttribute("aria-label", aria);
    b.addEventListener("click", onClick);
    return b;
  }

  function deleteButton(message) {
    // Two steps instead of a modal confirm: the first press arms the button.
    const b = actionButton("Delete", "Delete this message", async () => {
      if (!b.dataset.armed) {
        b.dataset.armed = "1";
        b.textContent = "Really delete?";
        b.classList.add("danger");
        setTimeout(() => {
          delete b.dataset.armed;
          b.textContent = "Delete";
          b.classList.remove("danger");
        }, 4000);
        return;
      }
      try {
        const updated = await api("DELETE", `/api/messages/${message.id}/`);
        if (updated && updated.seq) onMessage(updated, true);
      } catch (e) {
        setStatusNote(`Could not delete: ${e.message}`);
      }
    });
    return b;
  }

  function renderPending(item) {
    if (item.room !== openRoomId) return;
    const selector = `[data-client-id="${CSS.escape(item.clientId)}"]`;
    const li = node("li", "message own pending");
    li.style.setProperty("--hue", String((me.id * 67) % 360));
    li.dataset.clientId = item.clientId;
    li.dataset.author = me.id;
    li.dataset.time = String(Date.now());
    const head = node("div", "message-head");
    const author = node("span", "author", me.username);
    author.dataset.initial = me.username.slice(0, 1).toUpperCase();
    head.append(author);
    head.append(node("span", "time status", item.state === "failed" ? "Not sent" : "Sending…"));
    li.append(head);
    li.append(node("div", "body", item.body));
    if (item.state === "failed") {
      li.classList.add("failed");
      const actions = node("div", "message-actions visible");
      actions.append(node("span", "failure", item.error || "Could not be sent."));
      actions.append(
        actionButton("Retry", "Retry sending this message", () => {
          item.state = "pending";
          item.error = null;
          saveOutbox();
          renderPending(item);
          transmit(item);
        }),
      );
      actions.append(
        actionButton("Discard", "Discard this message", () => {
          outbox.delete(item.clientId);
          saveOutbox();
          li.remove();
        }),
      );
      li.append(actions);
    }
    const existing = el.list.querySelector(selector);
    if (existing) existing.replaceWith(li);
    else el.list.append(li);
    regroup(li);
  }

  function renderReadMarkers(room) {
    if (room.id !== openRoomId) return;
    for (const box of el.list.querySelectorAll(".read-by")) box.replaceChildren();
    const bySeq = new Map();
    for (const [userId, reader] of room.readers) {
      if (userId === me.id) continue;
      // The newest message the reader has seen that we show.
      let target = null;
      for (const li of el.list.querySelectorAll("li[data-seq]")) {
        if (Number(li.dataset.seq) <= reader.seq) target = li;
      }
      if (!target) continue;
      if (!bySeq.has(target)) bySeq.set(target, []);
      bySeq.get(target).push(reader.username);
    }
    for (const [li, names] of bySeq) {
      const box = li.querySelector(".read-by");
      box.textContent = `Seen by ${names.sort().join(", ")}`;
    }
  }

  function renderTyping(room) {
    const names = [...room.typing.values()].map((t) => t.username);
    if (!names.length) el.typing.textContent = "";
    else if (names.length === 1) el.typing.textContent = `${names[0]} is typing…`;
    else if (names.length <= 3) el.typing.textContent = `${names.join(", ")} are typing…`;
    else el.typing.textContent = "Several people are typing…";
  }

  function formatTime(date) {
    const now = new Date();
    const sameDay = date.toDateString() === now.toDateString();
    const opts = sameDay ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    return date.toLocaleString([], opts);
  }

  function atBottom() {
    return el.messages.scrollHeight - el.messages.scrollTop - el.messages.clientHeight < 40;
  }

  function scrollToBottom() {
    el.messages.scrollTop = el.messages.scrollHeight;
  }

  let noteTimer = null;
  function setStatusNote(text) {
    el.typing.textContent = text;
    el.typing.classList.add("note");
    clearTimeout(noteTimer);
    noteTimer = setTimeout(() => {
      el.typing.classList.remove("note");
      const room = rooms.get(openRoomId);
      if (room) renderTyping(room);
      else el.typing.textContent = "";
    }, 5000);
  }

  $("back-button").addEventListener("click", () => {
    el.app.dataset.view = "list";
    const current = document.querySelector('.room-item[aria-current="true"]');
    if (current) current.focus();
  });

  // Alt+Up / Alt+Down walk the room list from anywhere.
  document.addEventListener("keydown", (event) => {
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
    const items = [...document.querySelectorAll(".room-list li")].map((li) => Number(li.dataset.roomId));
    if (!items.length) return;
    event.preventDefault();
    const index = items.indexOf(openRoomId);
    const next = event.key === "ArrowDown" ? index + 1 : index - 1;
    openRoom(items[(next + items.length) % items.length], true);
  });

  // --- editing -------------------------------------------------------------------

  function startEdit(room, message) {
    cancelEdit();
    const li = messageNode(message.seq);
    if (!li) return;
    const body = li.querySelector(".body");
    const box = node("textarea", "edit-box");
    box.value = message.body;
    box.setAttribute("aria-label", "Edit message. Enter saves, Escape cancels.");
    box.rows = Math.min(6, message.body.split("\n").length + 1);
    body.replaceWith(box);
    li.classList.add("editing");
    editing = { id: message.id, seq: message.seq, room: room.id };
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
    box.addEventListener("keydown", async (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        cancelEdit(true);
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        const text = box.value;
        if (!text.trim() || text === message.body) {
          cancelEdit(true);
          return;
        }
        box.disabled = true;
        try {
          const updated = await api("PATCH", `/api/messages/${message.id}/`, { body: text });
          editing = null;
          if (updated && updated.seq) onMessage(updated, true);
          else cancelEdit(true);
        } catch (e) {
          box.disabled = false;
          setStatusNote(`Could not save: ${e.message}`);
        }
        el.input.focus();
      }
    });
  }

  function cancelEdit(refocus) {
    if (!editing) return;
    const room = rooms.get(editing.room);
    const seq = editing.seq;
    editing = null;
    if (room && room.id === openRoomId && room.msgs.has(seq)) renderMessage(room, room.msgs.get(seq));
    if (refocus) el.input.focus();
  }

  // --- dialogs -------------------------------------------------------------------

  for (const dialog of document.querySelectorAll("dialog")) {
    for (const b of dialog.querySelectorAll("[data-close]")) b.addEventListener("click", () => dialog.close());
  }

  function setDialogStatus(id, text, isError) {
    const p = $(id);
    p.textContent = text || "";
    p.classList.toggle("error", Boolean(isError));
  }

  async function searchPeople(query) {
    const data = await api("GET", `/people/?q=${encodeURIComponent(query)}`);
    return data.results;
  }

  function debounce(fn, ms) {
    let t = null;
    return (...args) => {
      clearTimeout(t);
      t = setTimeout(() => fn(...args), ms);
    };
  }

  // Direct chats.
  const directDialog = $("direct-dialog");
  $("new-direct-button").addEventListener("click", () => {
    setDialogStatus("direct-status", "");
    $("direct-search").value = "";
    directDialog.showModal();
    fillDirect("");
  });
  const fillDirect = debounce(async (query) => {
    try {
      const people = await searchPeople(query);
      const list = $("direct-people");
      list.replaceChildren(
        ...people.map((p) => {
          const li = node("li");
          const b = node("button", "person", p.username);
          b.type = "button";
          b.addEventListener("click", () => startDirect(p));
          li.append(b);
          return li;
        }),
      );
      if (!people.length) list.append(node("li", "empty-note", "Nobody by that name."));
    } catch (e) {
      setDialogStatus("direct-status", e.message, true);
    }
  }, 150);
  $("direct-search").addEventListener("input", (e) => fillDirect(e.target.value.trim()));
  $("direct-search").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      const first = $("direct-people").querySelector("button");
      if (first) first.click();
    }
  });

  async function startDirect(person) {
    try {
      const room = await api("POST", "/api/rooms/direct/", { user: person.id });
      directDialog.close();
      if (!rooms.has(room.id)) {
        rooms.set(room.id, roomState(room));
        rooms.get(room.id).kind = "direct";
        rooms.get(room.id).members = [me, person];
      }
      openRoom(room.id, true);
    } catch (e) {
      setDialogStatus("direct-status", e.message, true);
    }
  }

  // New rooms.
  const roomDialog = $("new-room-dialog");
  const chosen = new Map();
  $("new-room-button").addEventListener("click", () => {
    chosen.clear();
    $("new-room-name").value = "";
    $("new-room-search").value = "";
    setDialogStatus("new-room-status", "");
    roomDialog.showModal();
    fillRoomPeople("");
  });
  const fillRoomPeople = debounce(async (query) => {
    try {
      const people = await searchPeople(query);
      const box = $("new-room-people");
      box.replaceChildren(
        ...people.map((p) => {
          const label = node("label", "check");
          const input = node("input");
          input.type = "checkbox";
          input.checked = chosen.has(p.id);
          input.addEventListener("change", () => (input.checked ? chosen.set(p.id, p) : chosen.delete(p.id)));
          label.append(input, document.createTextNode(` ${p.username}`));
          return label;
        }),
      );
    } catch (e) {
      setDialogStatus("new-room-status", e.message, true);
    }
  }, 150);
  $("new-room-search").addEventListener("input", (e) => fillRoomPeople(e.target.value.trim()));
  $("new-room-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("new-room-name").value.trim();
    if (!name) return;
    try {
      const room = await api("POST", "/api/rooms/", { name, members: [...chosen.keys()] });
      roomDialog.close();
      if (!rooms.has(room.id)) rooms.set(room.id, roomState(room));
      renderRooms();
      openRoom(room.id, true);
    } catch (e) {
      setDialogStatus("new-room-status", e.message, true);
    }
  });

  // Reports.
  const reportDialog = $("report-dialog");
  function openReport(message) {
    reportTarget = message;
    $("report-reason").value = "";
    setDialogStatus("report-status", "");
    reportDialog.showModal();
  }
  $("report-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = $("report-reason").value.trim();
    if (!reason || !reportTarget) return;
    try {
      await api("POST", `/api/messages/${reportTarget.id}/report/`, { reason });
      reportDialog.close();
      setStatusNote("Thanks. A moderator will look at it.");
    } catch (e) {
      setDialogStatus("report-status", e.message, true);
    }
  });

  // Notification preferences.
  const settingsDialog = $("settings-dialog");
  $("settings-button").addEventListener("click", async () => {
    setDialogStatus("settings-status", "Loading…");
    settingsDialog.showModal();
    renderWebPush();
    try {
      const prefs = await api("GET", "/api/me/notifications/");
      $("pref-push").checked = Boolean(prefs.push);
      $("pref-email").checked = Boolean(prefs.email);
      const delay = $("pref-delay");
      const value = String(prefs.email_delay_seconds);
      if (![...delay.options].some((o) => o.value === value)) {
        const opt = node("option", "", `${prefs.email_delay_seconds} seconds`);
        opt.value = value;
        delay.append(opt);
      }
      delay.value = value;
      const muted = new Set(prefs.muted_rooms || []);
      $("pref-rooms").replaceChildren(
        ...[...rooms.values()].map((room) => {
          const label = node("label", "check");
          const input = node("input");
          input.type = "checkbox";
          input.value = room.id;
          input.checked = muted.has(room.id);
          label.append(input, document.createTextNode(` ${displayName(room)}`));
          return label;
        }),
      );
      setDialogStatus("settings-status", "");
    } catch (e) {
      setDialogStatus("settings-status", `Could not load your settings: ${e.message}`, true);
    }
  });
  $("settings-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const mutedRooms = [...$("pref-rooms").querySelectorAll("input:checked")].map((i) => Number(i.value));
    try {
      await api("PATCH", "/api/me/notifications/", {
        push: $("pref-push").checked,
        email: $("pref-email").checked,
        email_delay_seconds: Number($("pref-delay").value),
        muted_rooms: mutedRooms,
      });
      settingsDialog.close();
      setStatusNote("Notification settings saved.");
    } catch (e) {
      setDialogStatus("settings-status", `Could not save: ${e.message}`, true);
    }
  });

  // --- Web Push --------------------------------------------------------------------

  const pushSupported =
    Boolean(config.vapidPublicKey) && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

  function base64UrlToBytes(text) {
    const padded = (text + "=".repeat((4 - (text.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function subscriptionToken(subscription) {
    // The devices API's canonical form: endpoint and keys, keys sorted, no spaces.
    const { endpoint, keys } = subscription.toJSON();
    return JSON.stringify({ endpoint, keys: { auth: keys.auth, p256dh: keys.p256dh } });
  }

  async function currentSubscription() {
    const registration = await navigator.serviceWorker.getRegistration("/");
    return registration ? registration.pushManager.getSubscription() : null;
  }

  async function renderWebPush() {
    $("webpush").hidden = !pushSupported;
    if (!pushSupported) return;
    const status = $("webpush-status");
    const button = $("webpush-button");
    if (Notification.permission === "denied") {
      status.textContent = "This browser blocks notifications from this site. Allow them in the site settings.";
      button.hidden = true;
      return;
    }
    const sub = await currentSubscription().catch(() => null);
    button.hidden = Boolean(sub);
    status.textContent = sub ? "This browser gets notifications." : "Get notifications in this browser too.";
  }

  async function enableWebPush() {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      renderWebPush();
      return;
    }
    try {
      const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      await navigator.serviceWorker.ready;
      const subscription =
        (await registration.pushManager.getSubscription()) ||
        (await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: base64UrlToBytes(config.vapidPublicKey),
        }));
      await api("POST", "/api/devices/", { platform: "web", token: subscriptionToken(subscription) });
      setDialogStatus("settings-status", "Browser notifications are on.");
    } catch (e) {
      setDialogStatus("settings-status", `Could not turn on browser notifications: ${e.message}`, true);
    }
    renderWebPush();
  }
  $("webpush-button").addEventListener("click", enableWebPush);

  // Signing out unregisters this browser's push subscription first.
  $("logout-form").addEventListener("submit", async (event) => {
    if (!pushSupported || event.target.dataset.done) return;
    event.preventDefault();
    try {
      const sub = await currentSubscription();
      if (sub) {
        const token = subscriptionToken(sub);
        await api("DELETE", `/api/devices/${encodeURIComponent(token)}/`).catch(() => null);
        await sub.unsubscribe();
      }
    } catch (e) {
      /* signing out matters more */
    }
    event.target.dataset.done = "1";
    event.target.submit();
  });

  // --- start -------------------------------------------------------------------------

  connect();
})();
