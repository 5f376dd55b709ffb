// The service worker behind browser notifications (docs/page.md, "Web Push").
// Served at /sw.js so that its scope is the whole site.
"use strict";

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (e) {
    data = { body: event.data ? event.data.text() : "" };
  }
  const room = data.room ?? data.room_id ?? (data.data && data.data.room);
  const title = data.title || "New message";
  const options = {
    body: data.body || "",
    tag: room ? `room-${room}` : undefined,
    renotify: Boolean(room),
    icon: "/static/chat/icon.svg",
    data: { url: data.url || (room ? `/?room=${room}` : "/") },
  };
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      // Someone looking at the page already sees the message.
      const looking = windows.some((w) => w.visibilityState === "visible" && w.focused);
      return looking ? undefined : self.registration.showNotification(title, options);
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || "/", self.location.origin);
  if (target.origin !== self.location.origin) return;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const w of windows) {
        if (new URL(w.url).origin === target.origin && "focus" in w) {
          return w.navigate(target.href).then((c) => (c || w).focus());
        }
      }
      return self.clients.openWindow(target.href);
    }),
  );
});
