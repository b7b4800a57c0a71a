// The socketeer demo chat. Plain browser JavaScript, no build step.
// User text only ever reaches the page through textContent.
(function () {
  "use strict";

  var CDN_CLIENT = "https://cdn.socket.io/4.8.1/socket.io.min.js";
  var LOCAL_CLIENT = "/socket.io.min.js";
  var CDN_TIMEOUT_MS = 3000;
  var TYPING_IDLE_MS = 2500;
  var TYPING_SHOWN_MS = 4000;

  var $ = function (id) { return document.getElementById(id); };

  // -- loading the official client: CDN first, our own copy when the CDN fails or is slow --------

  function loadScript(src, timeoutMs) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      var timer = null;
      var done = function (ok, why) {
        if (timer !== null) clearTimeout(timer);
        script.onload = script.onerror = null;
        if (ok) resolve(); else reject(new Error(src + ": " + why));
      };
      script.onload = function () { done(typeof window.io === "function", "loaded without defining io"); };
      script.onerror = function () { done(false, "failed to load"); };
      if (timeoutMs) timer = setTimeout(function () { done(false, "timed out"); }, timeoutMs);
      script.src = src;
      script.crossOrigin = "anonymous";
      document.head.appendChild(script);
    });
  }

  function loadClient() {
    if (typeof window.io === "function") return Promise.resolve("page");
    var localOnly = new URLSearchParams(location.search).get("client") === "local";
    var fromCdn = localOnly ? Promise.reject(new Error("local client requested")) : loadScript(CDN_CLIENT, CDN_TIMEOUT_MS);
    return fromCdn.then(
      function () { return "cdn"; },
      function () { return loadScript(LOCAL_CLIENT, 0).then(function () { return "local"; }); }
    );
  }

  // -- small DOM helpers -------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clock(ts) {
    var d = ts ? new Date(ts) : new Date();
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // -- the app -----------------------------------------------------------------------------------

  function start(source) {
    var socket = window.io({ transports: ["polling", "websocket"] });
    var me = { id: null, nick: null, room: "lobby", wantedNick: null };
    var pm = null; // {id, nick} while writing a private message
    var typers = new Map(); // id -> {nick, timer}
    var typingSent = false;
    var typingTimer = null;
    var watched = new WeakSet();

    window.socketeerDemo = { socket: socket, clientSource: source };

    // status line, online count, own transport
    function setStatus(text, cls) {
      var node = $("status");
      node.textContent = text;
      node.className = "status " + cls;
    }

    function setTransport(name) {
      var line = $("transport");
      line.replaceChildren(document.createTextNode("transport: "), el("span", "badge " + name, name));
      line.dataset.transport = name;
    }

    function watchEngine(engine) {
      if (!engine || watched.has(engine)) return;
      watched.add(engine);
      engine.on("upgrade", function (transport) {
        setTransport(transport.name);
        socket.emit("transport", transport.name);
      });
    }

    watchEngine(socket.io.engine);
    socket.io.on("open", function () { watchEngine(socket.io.engine); });

    // messages
    function addMessage(kind, who, text, ts) {
      var list = $("messages");
      var item = el("li", "message " + kind);
      var meta = el("div", "meta");
      meta.appendChild(el("span", "who", who));
      meta.appendChild(el("time", "when", clock(ts)));
      item.appendChild(meta);
      item.appendChild(el("div", "text", text));
      var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      list.appendChild(item);
      if (atBottom || kind.indexOf("mine") >= 0) list.scrollTop = list.scrollHeight;
    }

    function addNotice(text) {
      var list = $("messages");
      list.appendChild(el("li", "notice", text));
      list.scrollTop = list.scrollHeight;
    }

    // typing indicator
    function renderTyping() {
      var names = Array.from(typers.values(), function (t) { return t.nick; });
      var line = "";
      if (names.length === 1) line = names[0] + " is typing…";
      else if (names.length === 2) line = names[0] + " and " + names[1] + " are typing…";
      else if (names.length > 2) line = names.length + " people are typing…";
      $("typing").textContent = line;
    }

    function setTyping(typing) {
      if (typingTimer !== null) clearTimeout(typingTimer);
      typingTimer = typing ? setTimeout(function () { setTyping(false); }, TYPING_IDLE_MS) : null;
      if (typing !== typingSent && (!typing || !pm)) {
        typingSent = typing;
        socket.emit("typing", typing);
      }
    }

    // private-message mode
    function setPm(target) {
      pm = target;
      $("pm-target").hidden = !pm;
      $("pm-label").textContent = pm ? "to " + pm.nick : "";
      $("text").placeholder = pm ? "Private message to " + pm.nick + "…" : "Say something in #" + me.room + "…";
      $("text").focus();
    }

    // lists
    var lastRooms = [];

    function renderRooms(rooms) {
      lastRooms = rooms;
      var list = $("rooms");
      list.replaceChildren();
      rooms.forEach(function (room) {
        var item = el("li", room.name === me.room ? "item current" : "item");
        var button = el("button", "link", "# " + room.name);
        button.type = "button";
        button.addEventListener("click", function () { join(room.name); });
        item.appendChild(button);
        item.appendChild(el("span", "count", room.count));
        list.appendChild(item);
      });
    }

    function renderUsers(users) {
      var list = $("users");
      list.replaceChildren();
      users.forEach(function (user) {
        var self = user.id === me.id;
        var item = el("li", self ? "item user self" : "item user");
        item.dataset.id = user.id;
        var button = el("button", "link", user.nick + (self ? " (you)" : ""));
        button.type = "button";
        button.disabled = self;
        button.title = self ? "" : "send a private message to " + user.nick;
        button.addEventListener("click", function () { setPm({ id: user.id, nick: user.nick }); });
        item.appendChild(button);
        item.appendChild(el("span", "room", "#" + user.room));
        item.appendChild(el("span", "badge " + user.transport, user.transport));
        list.appendChild(item);
        if (pm && pm.id === user.id && pm.nick !== user.nick) setPm({ id: user.id, nick: user.nick });
      });
      if (pm && !users.some(function (u) { return u.id === pm.id; })) {
        addNotice(pm.nick + " left");
        setPm(null);
      }
    }

    function join(room) {
      socket.emit("join", room, function (res) {
        if (!res.ok) return addNotice(res.error);
        if (res.room === me.room) return;
        me.room = res.room;
        typers.clear();
        renderTyping();
        $("room-title").textContent = "# " + me.room;
        renderRooms(lastRooms);
        $("messages").replaceChildren();
        addNotice("You joined #" + me.room);
        setPm(pm);
      });
    }

    // socket events
    socket.on("connect", function () {
      setStatus("connected", "online");
      setTransport(socket.io.engine.transport.name);
      if (socket.io.engine.transport.name !== "polling") socket.emit("transport", socket.io.engine.transport.name);
      $("text").disabled = $("send").disabled = false;
    });

    socket.on("disconnect", function (reason) {
      setStatus("disconnected (" + reason + ")", "offline");
      $("text").disabled = $("send").disabled = true;
    });

    socket.on("connect_error", function (err) {
      setStatus("cannot connect: " + err.message, "offline");
    });

    socket.on("welcome", function (user) {
      me.id = user.id;
      me.nick = user.nick;
      var wantedRoom = me.room;
      me.room = user.room;
      if (me.wantedNick) socket.emit("nick", me.wantedNick, onNick);
      else $("nick").value = me.nick;
      if (wantedRoom !== me.room) join(wantedRoom);
      $("room-title").textContent = "# " + me.room;
      setPm(null);
    });

    socket.on("online", function (count) { $("online").textContent = count + " online"; });
    socket.on("rooms", renderRooms);
    socket.on("users", renderUsers);

    socket.on("chat", function (msg) {
      if (msg.room !== me.room) return;
      addMessage("theirs", msg.nick, msg.text, msg.ts);
      var typer = typers.get(msg.id);
      if (typer) { clearTimeout(typer.timer); typers.delete(msg.id); renderTyping(); }
    });

    socket.on("private", function (msg) {
      addMessage("theirs private", msg.nick + " → you (private)", msg.text, msg.ts);
    });

    socket.on("typing", function (t) {
      var old = typers.get(t.id);
      if (old) clearTimeout(old.timer);
      if (t.typing) {
        typers.set(t.id, { nick: t.nick, timer: setTimeout(function () { typers.delete(t.id); renderTyping(); }, TYPING_SHOWN_MS) });
      } else {
        typers.delete(t.id);
      }
      renderTyping();
    });

    // forms
    function onNick(res) {
      if (!res.ok) return addNotice(res.error);
      me.nick = me.wantedNick = res.nick;
      $("nick").value = res.nick;
    }

    $("nick-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var nick = $("nick").value.trim();
      if (nick) socket.emit("nick", nick, onNick);
    });

    $("room-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var room = $("room-name").value.trim();
      if (room) join(room);
      $("room-name").value = "";
    });

    $("pm-cancel").addEventListener("click", function () { setPm(null); });

    $("text").addEventListener("input", function () { setTyping($("text").value.length > 0); });

    $("send-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var text = $("text").value.trim();
      if (!text) return;
      $("text").value = "";
      setTyping(false);
      if (pm) {
        var target = pm;
        addMessage("mine private", "you → " + target.nick + " (private)", text);
        socket.emit("private", target.id, text, function (res) { if (!res.ok) addNotice(res.error); });
      } else {
        addMessage("mine", me.nick || "you", text);
        socket.emit("chat", text, function (res) { if (!res.ok) addNotice(res.error); });
      }
    });
  }

  loadClient().then(start, function (err) {
    var node = $("status");
    node.textContent = "the Socket.IO client could not be loaded (" + err.message + ")";
    node.className = "status offline";
  });
})();
