/*
 * Strata coherency protocol v2: a Promela model of ONE key (docs/protocol.md is the prose;
 * section and step numbers below refer to it).
 *
 * Actors
 *   - PostgreSQL: `db`, the committed version of the key (values are versions: version v is the
 *     v-th write; 0 is the row before any write).
 *   - Redis: the L2 slot of the key (`l2k` kind, `l2v` version, `l2g` generation tag), the
 *     generation key `rgen` (0 = missing), and per-replica pub/sub delivery as FIFO channels
 *     `bus[r]` (one channel carries invalidations and the replica's own heartbeat echo).
 *   - NR = 2 replicas. Replica 0 runs the writer (writes of a key are serialised by an advisory
 *     lock, so one writer loses nothing). NT = 2 reader threads, each one read at a time: thread 1
 *     reads on replica 1; thread 0 reads on replica 0 (read-your-writes) or, with FLOAT0, on
 *     replica 1 too, so that two reads there can share a flight (one starts it, the other joins).
 *
 * Step names (R1, R2, R3a, R3b, W1-W4, B1-B5, G1, G2) are those of docs/protocol.md.
 * Ghost variables (marked "ghost") only serve the properties; the protocol never reads them.
 *
 * The whole model is one process whose loop picks any enabled event; every event is one
 * d_step, i.e. one atomic transition. An event is one thing that happens at one place at one time:
 * a Redis command executing, a reply being processed, a message being delivered, a fault. Time is
 * not a number: the events that need it (lease lapse, fence expiry, end of quarantine) are
 * nondeterministic and carry, as their precondition, exactly what the real timeouts guarantee
 * (docs/protocol.md, "What the model leaves out").
 *
 * Switches that REMOVE one fix each (each must make spin find a counterexample):
 *   NO_FIX_L2_FENCE_CHECK  issue 11 item 1: an L2 record older than the local fence is a hit (v1)
 *   NO_FIX_JOIN_RECHECK    issue 11 item 2: a joiner takes the flight's result even if older than
 *                          the fence it knew when it arrived
 *   NO_FIX_LAPSE_DETACH    (found by the model) a read on a replica whose lease ran out joins a
 *                          flight that started before the lapse
 *   NO_FIX_L2_NEEDS_LEASE  (found by the model) L2 is read while the lease is not held
 *   NO_FIX_AGE_DETACH      (found by the model) a flight older than maxLoadTime stays joinable
 *   NO_FIX_SET_DEADLINE    (found by the model) the L2 set's Lua does not refuse a set whose flight
 *                          is older than maxLoadTime by the time Redis runs it
 *   NO_FIX_PROMOTE_AGE     (found by the model) an L2 hit older than maxLoadTime is promoted to L1
 *   NO_FIX_QUARANTINE      no quarantine after Redis data loss
 *   NO_FIX_FENCE_TTL       (found by the model) fenceTtl only outlasts maxLoadTime counted from the
 *                          fence (W2), not from the COMMIT (W3)
 *   NO_FIX_FAILOVER_MOVE   (found by the model) with CLUSTER: a replica that resubscribes on a new
 *                          master syncs the generation as after any resubscribe, so a failover
 *                          whose new master lacks the last fence (the generation key, older, made
 *                          it) goes unnoticed, and a set sent before it lands there
 *
 * CLUSTER: the key's shard of a Redis Cluster. Adds G3 (a failover to a replica that lacks the
 * slot's last change) and the rule that answers it (G4): a replica that resubscribes on another
 * master than the one it last served the partition from moves the generation on (docs/protocol.md,
 * "On a Redis Cluster"). MAXFAILOVERS bounds G3 (default 1 with CLUSTER, else 0).
 */

#define NR 2
#define NT 2
#ifndef W
#define W 2          /* number of writes: versions 1..W */
#endif
#define QL 3         /* channel capacity: W invalidations + 1 heartbeat echo */
#ifndef MAXDROPS
#define MAXDROPS 1   /* subscriber drops of one replica (not a Redis restart) */
#endif
#ifndef MAXRESTARTS
#define MAXRESTARTS 1
#endif
#ifndef MAXFAILOVERS
#ifdef CLUSTER
#define MAXFAILOVERS 1
#else
#define MAXFAILOVERS 0
#endif
#endif
#ifndef EXP
#define EXP true     /* fences and L2 entries may expire */
#endif
#ifndef FLOAT0
#define FLOAT0 1     /* reader thread 0 may read on replica 1 too (so that two reads there can share a flight) */
#endif
#define NONE 255
#define ECHO 100     /* a heartbeat echo on the bus; any other message m is invalidate(version m) */

/* subscriber state, as Redis and the replica see it */
#define UP   0       /* subscribed */
#define DEAD 1       /* Redis dropped the subscription; the replica has not noticed yet */
#define DOWN 2       /* the replica noticed (local clear done) and has not resubscribed yet */

/* reader-thread phases (a thread that owns a flight runs it: L2GET .. SETREPLY) */
#define IDLE     0
#define L2GET    1   /* R3a: the GET executes in Redis */
#define L2EVAL   2   /* R3a: its reply is processed (maybe after messages arrived meanwhile) */
#define DBREAD   3   /* R3b: the SELECT reads the committed version */
#define SETSEND  4   /* R3b: install checks on the replica; the Lua set is sent */
#define SETLUA   5   /* R3b: the Lua set executes in Redis */
#define SETREPLY 6   /* R3b: its reply is processed; L1 install */
#define JOINED   7   /* R2: waiting for another thread's flight */
#define GOT      8   /* R2: the joined flight resolved */

/* L2 slot kinds */
#define NOREC 0
#define VAL   1
#define FENCE 2

#define REP(t) rep[t]

/* ---- PostgreSQL and the writer (on replica 0) ---- */
byte db;             /* committed version */
byte acked;          /* highest version whose 200 was sent (ghost, for the properties) */
byte wph;            /* writer step: 0 idle, 1 local invalidate done, 2 L2 fenced + published */
byte wv;             /* version being written */
bit lostFenceWrite;  /* a write fenced L2 before a Redis restart and has not committed yet */

/* ---- Redis ---- */
byte l2k, l2v, l2g;  /* the key's L2 slot */
byte rgen = 1;       /* the generation key; 0 = missing (after a restart) */
byte deadBelow;      /* ghost: L2 records tagged with a generation below this were written to a
                        namespace that every replica abandons when it syncs after the restart */
byte restarts, drops, failovers;
chan bus[NR] = [QL] of { byte };

/* ---- per replica ---- */
bit  l1h[NR];        /* L1 holds the key */
byte l1v[NR];        /* ... at this version */
byte lf[NR];         /* local fence (0 = none or expired) */
byte gen[NR];        /* the generation this replica reads and tags L2 with */
bit  online[NR];     /* generation known: L2 may be used */
bit  synced[NR];     /* subscribed and generation synced since the last local clear */
bit  lease[NR];      /* lease held (own heartbeat echo came back, no lapse since) */
bit  hbIn[NR];       /* an own heartbeat is on the bus */
bit  quar[NR];       /* quarantine after detected Redis data loss */
bit  newMaster[NR];  /* the replica's next resubscribe is on another master (after G3) */
byte sub[NR];
byte fmap[NR];       /* the thread whose flight is in the flight map (joinable), or NONE */
byte seen[NR];       /* ghost: highest version whose invalidation this replica applied */
byte lapseAck[NR];   /* ghost: `acked` when the lease last ran out / the bus was noticed down */

/* ---- per reader thread: the read, and the flight it owns ---- */
byte ph[NT];
byte rep[NT];        /* the replica this read runs on (chosen at arrival) */
byte need[NT];       /* ghost: the version this read must return at least */
byte res[NT];        /* the version the read / flight returns */
byte f0[NT];         /* R2: local fence when the read joined */
byte joined[NT];     /* R2: the thread whose flight it joined */
bit  retried[NT];
byte fsf[NT];        /* flight: startFence (raised by what L2 showed) */
byte fgen[NT];       /* flight: generation at start */
byte fsdb[NT];       /* ghost: db when the flight started (loads started before a commit may read the old row) */
bit  fep[NT];        /* flight: epoch still current (no local clear since it started) */
bit  fdet[NT];       /* flight: detached by an invalidation */
bit  fold[NT];       /* flight: older than maxLoadTime (some fence it predates has expired) */
bit  fq[NT];         /* flight: started during a quarantine */
bit  acc[NT];        /* flight: Redis accepted its L2 set */
byte rv[NT];         /* flight: version of the record its L2 GET saw (0 = none) */
bit  rc[NT];         /* ... and it was a value record of a generation >= the flight's (a hit candidate) */

byte i, m;           /* scratch (loop index, received message); always left at the same value */

/* ---------- the fixes ---------- */
#ifdef NO_FIX_L2_FENCE_CHECK
#define L2HIT_FENCE(t, r) true
#else
#define L2HIT_FENCE(t, r) (rv[t] >= fsf[t] && rv[t] >= lf[r])
#endif
#ifdef NO_FIX_JOIN_RECHECK
#define RECHECK false
#else
#define RECHECK true
#endif
#ifdef NO_FIX_L2_NEEDS_LEASE
#define L2OK(r) (online[r])
#else
#define L2OK(r) (online[r] && lease[r])
#endif
#ifdef NO_FIX_SET_DEADLINE
#define LUA_DEADLINE(t) false
#else
#define LUA_DEADLINE(t) (fold[t])
#endif
#ifdef NO_FIX_QUARANTINE
#define QUAR(r) 0
#else
#define QUAR(r) quar[r]
#endif
/* With G4, every replica moves the generation past rgen before it uses L2 again: whatever a
   set tagged with an older generation leaves there, from now on, is dead (ghost). */
#ifdef NO_FIX_FAILOVER_MOVE
#define FORCED(r) false
#define FAILOVER_ABANDONS skip
#else
#define FORCED(r) newMaster[r]
#define FAILOVER_ABANDONS deadBelow = rgen + 1
#endif

/* Only replica 1's lease runs out on its own (replica 0 loses it with its subscription): the
   writer's replica owes read-your-writes whatever its lease does. */
#define LAPSES(r) ((r) == 1)
/* Replica 0 owes every read the latest ack anyway (read-your-writes), so its ghost is not kept. */
#define LAPSE_ACK(r) if :: (r) == 1 -> lapseAck[r] = acked :: else fi
#define SERVING(r) (synced[r] && lease[r])
#define PENDING(t) (ph[t] >= L2GET && ph[t] <= SETREPLY)
/* R3b: the replica-side install conditions (checked before the L2 set and again before L1) */
#define INSTALL_OK_V(t, r, v) ((v) >= fsf[t] && (v) >= lf[r] && fep[t] && !fdet[t] && !fold[t] && !fq[t] && online[r])
#define INSTALL_OK(t, r) INSTALL_OK_V(t, r, res[t])
/* R3a: promoting an L2 hit to L1 is an install like any other (v1 and the v2 text checked only
   epoch and fence here; the model found that the age limit is needed too). */
#ifdef NO_FIX_PROMOTE_AGE
#define PROMOTE_OK(t, r) (SERVING(r) && (rv[t]) >= fsf[t] && (rv[t]) >= lf[r] && fep[t] && !fdet[t])
#else
#define PROMOTE_OK(t, r) (SERVING(r) && INSTALL_OK_V(t, r, rv[t]))
#endif

/* Evict the key, raise the local fence, detach the flight in the map (invalidate message, and the
   writer's own invalidate / evictLocal). */
#define EVICT(r, v) \
  l1h[r] = 0; \
  if :: lf[r] < (v) -> lf[r] = (v) :: else fi; \
  if :: fmap[r] != NONE -> fdet[fmap[r]] = 1; fmap[r] = NONE :: else fi; \
  if :: seen[r] < (v) -> seen[r] = (v) :: else fi

/* Local clear: epoch++, L1 emptied, flight map emptied (fences are kept). */
#define LCLEAR(r) \
  l1h[r] = 0; fmap[r] = NONE; \
  i = 0; do :: i < NT -> if :: REP(i) == (r) -> fep[i] = 0 :: else fi; i++ :: else -> break od

#define EMPTY(r) do :: nempty(bus[r]) -> bus[r]?m :: empty(bus[r]) -> break od; m = 0

/* Some fence or record of version v expired: fenceTtl > maxWriteTime + maxLoadTime, so every load
   that started before v committed is now older than maxLoadTime. */
#ifdef NO_FIX_AGE_DETACH
#define AGE_DETACH(t)
#else
#define AGE_DETACH(t) if :: fmap[REP(t)] == (t) -> fmap[REP(t)] = NONE :: else fi
#endif
/* fenceTtl > maxWriteTime + maxLoadTime: a fence outlives every load that started before its
   write COMMITTED. With only fenceTtl > maxLoadTime it outlives the loads that started before the
   fence was PLACED (W2), which is earlier: the switch makes a flight count its start from W2. */
#ifdef NO_FIX_FENCE_TTL
#define START_DB (wph == 2 -> wv : db)
#else
#define START_DB db
#endif
/* An expiry means fenceTtl has passed, far more than a lease: every lease held now was renewed by
   an echo sent since. So every replica's lease runs out here; one whose subscription is alive
   renews it at once (B2), one whose subscription is dead stays without. */
#define TIME_PASSES \
  if :: lease[0] -> lease[0] = 0; LAPSE_DETACH(0) :: else fi; \
  if :: lease[1] -> lease[1] = 0; LAPSE_ACK(1); LAPSE_DETACH(1) :: else fi
#define AGE(v) \
  i = 0; do :: i < NT -> if :: PENDING(i) && fsdb[i] < (v) -> fold[i] = 1; AGE_DETACH(i) :: else fi; i++ \
         :: else -> break od

/* The read's outcome, checked against what it must return. */
#define CHECK(t) \
  if :: res[t] < need[t] -> printf("!! R%d.t%d returns v%d but must return >= v%d\n", REP(t), t, res[t], need[t]) \
     :: else -> printf("   R%d.t%d returns v%d\n", REP(t), t, res[t]) fi; \
  assert(REP(t) != 0 || res[t] >= need[t]);  /* read-your-writes on the writing replica */ \
  assert(REP(t) == 0 || res[t] >= need[t]);  /* bounded staleness elsewhere */ \
  RESET(t)

/* Back to idle, every field zeroed, so that equal situations are one state. */
#define RESET(t) \
  ph[t] = IDLE; rep[t] = 0; need[t] = 0; res[t] = 0; f0[t] = 0; joined[t] = 0; retried[t] = 0; \
  fsf[t] = 0; fgen[t] = 0; fsdb[t] = 0; fep[t] = 0; fdet[t] = 0; fold[t] = 0; fq[t] = 0; acc[t] = 0; \
  rv[t] = 0; rc[t] = 0

/* L1 install (from a load, or promotion of an L2 hit): no stale set. */
#define L1SET(t, r, v) \
  assert((v) >= lf[r]); /* no stale set: nothing below the current fence in L1 */ \
  assert((v) >= seen[r] || (v) >= acked); /* no stale set: nothing older than an acked write this replica was told of */ \
  l1h[r] = 1; l1v[r] = (v)

#define START(t, r) \
  fmap[r] = t; fsf[t] = lf[r]; fgen[t] = gen[r]; fsdb[t] = START_DB; \
  fep[t] = 1; fdet[t] = 0; fold[t] = 0; fq[t] = QUAR(r); acc[t] = 0; \
  if :: L2OK(r) -> ph[t] = L2GET :: else -> ph[t] = DBREAD fi

/* When a flight resolves, its owner and every joiner get the result. */
#define FINISH(t, r) \
  if :: fmap[r] == t -> fmap[r] = NONE :: else fi; \
  i = 0; do :: i < NT -> if :: ph[i] == JOINED && joined[i] == t -> res[i] = res[t]; ph[i] = GOT :: else fi; i++ \
         :: else -> break od; \
  CHECK(t)

/* Every step of reader thread t (on replica r). */
/* A read arrives at replica r: L1, else join, else start a flight. */
#define ARRIVE(t, r) \
  :: d_step { ph[t] == IDLE -> rep[t] = r; \
       need[t] = (seen[r] < acked -> seen[r] : acked); \
       if :: lapseAck[r] > need[t] -> need[t] = lapseAck[r] :: else fi; \
       if :: SERVING(r) && l1h[r] -> res[t] = l1v[r]; printf("R%d.t%d read: L1 hit v%d\n", r, t, res[t]); CHECK(t) \
          :: else -> \
            if :: fmap[r] != NONE -> joined[t] = fmap[r]; f0[t] = lf[r]; ph[t] = JOINED; \
                    printf("R%d.t%d read: joins t%d's flight (fence %d)\n", r, t, joined[t], f0[t]) \
               :: else -> START(t, r); printf("R%d.t%d read: starts a flight (fence %d, gen %d)\n", r, t, fsf[t], fgen[t]) \
            fi \
       fi }

/* Every later step of reader thread t (on replica r = rep[t]). */
#define THREAD(t, r) \
  :: d_step { ph[t] == L2GET -> rv[t] = l2v; rc[t] = (l2k == VAL && l2g >= fgen[t]); ph[t] = L2EVAL; \
       printf("R%d.t%d L2 GET executes: kind %d v%d gen %d\n", r, t, l2k, l2v, l2g) } \
  :: d_step { ph[t] == L2EVAL -> \
       if :: rc[t] && L2HIT_FENCE(t, r) -> \
               res[t] = rv[t]; printf("R%d.t%d L2 hit v%d\n", r, t, res[t]); \
               if :: PROMOTE_OK(t, r) -> L1SET(t, r, rv[t]); printf("R%d.t%d promotes v%d to L1\n", r, t, rv[t]) :: else fi; \
               FINISH(t, r) \
          :: else -> if :: rv[t] > fsf[t] -> fsf[t] = rv[t] :: else fi; ph[t] = DBREAD; \
               printf("R%d.t%d L2 miss\n", r, t); rv[t] = 0; rc[t] = 0 \
       fi } \
  :: d_step { ph[t] == DBREAD -> res[t] = db; ph[t] = SETSEND; printf("R%d.t%d DB SELECT reads v%d\n", r, t, res[t]) } \
  :: d_step { ph[t] == SETSEND -> \
       if :: INSTALL_OK(t, r) -> ph[t] = SETLUA; printf("R%d.t%d sends L2 set v%d\n", r, t, res[t]) \
          :: else -> printf("R%d.t%d installs nothing\n", r, t); FINISH(t, r) fi } \
  :: d_step { ph[t] == SETLUA -> \
       if :: LUA_DEADLINE(t) -> acc[t] = 0 \
          :: else -> \
            if :: l2k != NOREC && l2v > res[t] -> acc[t] = 0 \
               :: else -> \
                 assert(res[t] >= acked || fgen[t] < deadBelow); /* no stale set in L2 after an ack */ \
                 l2k = VAL; l2v = res[t]; l2g = fgen[t]; acc[t] = 1 \
            fi \
       fi; \
       printf("Redis runs R%d.t%d's L2 set v%d gen %d: %d\n", r, t, res[t], fgen[t], acc[t]); \
       ph[t] = SETREPLY } \
  :: d_step { ph[t] == SETREPLY -> \
       if :: acc[t] && INSTALL_OK(t, r) -> L1SET(t, r, res[t]); printf("R%d.t%d installs v%d in L1\n", r, t, res[t]) \
          :: else fi; \
       FINISH(t, r) } \
  :: d_step { ph[t] == GOT -> \
       if :: RECHECK && res[t] < f0[t] && !retried[t] -> retried[t] = 1; \
               printf("R%d.t%d joined flight gave v%d < fence %d: retry\n", r, t, res[t], f0[t]); \
               if :: fmap[r] != NONE -> joined[t] = fmap[r]; ph[t] = JOINED \
                  :: else -> START(t, r) fi \
          :: else -> CHECK(t) \
       fi }

/* Every event of replica r's bus, lease and Redis connection. */
#define REPLICA(r) \
  /* B1 / B2: a message is delivered and applied */ \
  :: d_step { nempty(bus[r]) -> bus[r]?m; \
       if :: m == ECHO -> hbIn[r] = 0; lease[r] = 1; printf("R%d own heartbeat echo: lease renewed\n", r) \
          :: else -> EVICT(r, m); printf("R%d receives invalidate v%d\n", r, m) \
       fi; m = 0 } \
  /* heartbeat: published on the channel (command connection) */ \
  :: d_step { sub[r] == UP && !hbIn[r] && !lease[r] -> bus[r]!ECHO; hbIn[r] = 1; printf("R%d publishes a heartbeat\n", r) } \
  /* B3: the lease runs out: no own echo for `lease` ms */ \
  :: d_step { LAPSES(r) && lease[r] -> lease[r] = 0; LAPSE_ACK(r); LAPSE_DETACH(r); \
       printf("R%d lease runs out\n", r) } \
  /* the subscriber connection drops (Redis side); messages on it are lost */ \
  :: d_step { drops < MAXDROPS && sub[r] == UP -> drops++; sub[r] = DEAD; EMPTY(r); hbIn[r] = 0; \
       printf("R%d subscriber connection drops\n", r) } \
  /* B4: the replica notices: not serving, local clear */ \
  :: d_step { sub[r] == DEAD -> sub[r] = DOWN; synced[r] = 0; lease[r] = 0; \
       LAPSE_ACK(r); LCLEAR(r); printf("R%d notices the bus is down: local clear\n", r) } \
  /* B5 + G1: resubscribe, then the generation sync (Lua CAS) and a local clear; data loss -> quarantine.
     (One step: between the subscribe and the sync the replica serves no L1, reads no L2 and installs
     nothing, so a message delivered in that window only raises a fence the local clear keeps; the
     model lets such a message be lost instead, which gives the replica less to go on.) */ \
  :: d_step { sub[r] == DOWN -> sub[r] = UP; \
       if :: FORCED(r) -> /* G4: a bump, past Redis's generation and the replica's own */ \
               if :: rgen < gen[r] -> rgen = gen[r] + 1 :: else -> rgen = rgen + 1 fi; \
               gen[r] = rgen; quar[r] = 1; \
               printf("R%d resubscribes on a new master: generation moved on -> gen %d, quarantine\n", r, gen[r]) \
          :: !FORCED(r) && rgen < gen[r] -> rgen = gen[r] + 1; gen[r] = rgen; quar[r] = 1; \
               printf("R%d resubscribes; generation sync: Redis lost it -> gen %d, DATA LOSS, quarantine\n", r, gen[r]) \
          :: !FORCED(r) && rgen > gen[r] -> gen[r] = rgen; quar[r] = 1; \
               printf("R%d resubscribes; generation sync: moved without a clear -> gen %d, DATA LOSS, quarantine\n", r, gen[r]) \
          :: else -> printf("R%d resubscribes; generation sync: gen %d\n", r, gen[r]) \
       fi; \
       newMaster[r] = 0; LCLEAR(r); synced[r] = 1; online[r] = 1 } \
  /* quarantine ends: maxWriteTime after detection, so every write that fenced before the restart has committed or failed */ \
  :: d_step { quar[r] && !lostFenceWrite -> quar[r] = 0; printf("R%d quarantine ends\n", r) } \
  /* the local fence expires (fenceTtl > maxWriteTime + maxLoadTime) */ \
  :: d_step { EXP && lf[r] > 0 && lf[r] <= db -> AGE(lf[r]); TIME_PASSES; \
       printf("R%d local fence v%d expires (every lease runs out)\n", r, lf[r]); lf[r] = 0 }

#ifdef NO_FIX_LAPSE_DETACH
#define LAPSE_DETACH(r)
#else
#define LAPSE_DETACH(r) fmap[r] = NONE
#endif

init {
  i = 0;
  do :: i < NR -> gen[i] = 1; online[i] = 1; synced[i] = 1; lease[i] = 1; fmap[i] = NONE; i++
     :: else -> break od;
  do
  /* thread 0 reads on either replica; thread 1 only on replica 1 (the other order is the same by symmetry) */
  ARRIVE(0, 0)
#if FLOAT0
  ARRIVE(0, 1)
#endif
  ARRIVE(1, 1)
  THREAD(0, rep[0])
  THREAD(1, rep[1])
  REPLICA(0)
  REPLICA(1)
  /* ---- the writer on replica 0 (apps/api POST /write) ---- */
  /* W1: BEGIN; lock + upsert -> v; invalidate(): local evict + local fence + detach */
  :: d_step { wph == 0 && db < W -> wv = db + 1; EVICT(0, wv); wph = 1; printf("W  write v%d: local evict + fence\n", wv) }
  /* W2: Redis runs the L2 fence (Lua, keeps a higher version) and, pipelined right behind it,
     PUBLISH invalidate(v), delivered to every live subscription but the writer's own (the bus skips
     its own origin). (A restart between the two loses
     the fence and the message either way, so one step loses no behaviour.) */
  :: d_step { wph == 1 -> if :: !(l2k != NOREC && l2v > wv) -> l2k = FENCE; l2v = wv; l2g = gen[0] :: else fi;
       if :: sub[1] == UP -> bus[1]!wv :: else fi; wph = 2;
       printf("W  Redis runs the L2 fence v%d and publishes invalidate v%d\n", wv, wv) }
  /* W3 + W4: COMMIT; its reply: evictLocal(v), then the 200. (Reads that start between the commit and the
     200 are owed nothing newer, and a DB read then may as well have happened just after the 200.) */
  :: d_step { wph == 2 -> db = wv; lostFenceWrite = 0; EVICT(0, wv); acked = wv; wph = 0;
       printf("W  COMMIT v%d; evictLocal v%d; 200 sent\n", wv, wv) }
  /* ---- Redis faults ---- */
  /* G2: restart: L2, fences and the generation key are lost; every subscription drops */
  :: d_step { restarts < MAXRESTARTS -> restarts++; l2k = NOREC; l2v = 0; l2g = 0; deadBelow = rgen + 1; rgen = 0;
       lostFenceWrite = (wph == 2);
       i = 0; do :: i < NR -> if :: sub[i] == UP -> sub[i] = DEAD; hbIn[i] = 0 :: else fi; i++ :: else -> break od;
       EMPTY(0); EMPTY(1);
       printf("Redis RESTARTS: L2, fences, generation and queued messages lost\n") }
  /* G3 (CLUSTER): the shard's master fails over to a replica that lacks the slot's last change
     (replication is asynchronous): the L2 slot is back to nothing, the generation key (older)
     survives; every subscription drops with the old master */
  :: d_step { failovers < MAXFAILOVERS -> failovers++; l2k = NOREC; l2v = 0; l2g = 0;
       lostFenceWrite = (wph == 2); FAILOVER_ABANDONS;
       i = 0; do :: i < NR -> newMaster[i] = 1; if :: sub[i] == UP -> sub[i] = DEAD; hbIn[i] = 0 :: else fi; i++ :: else -> break od;
       EMPTY(0); EMPTY(1);
       printf("Redis FAILS OVER: the new master lacks the L2 slot's last change; queued messages lost\n") }
  /* the L2 fence or record expires */
  :: d_step { EXP && l2k != NOREC && l2v <= db -> AGE(l2v); TIME_PASSES; printf("L2 entry v%d expires (every lease runs out)\n", l2v); l2k = NOREC; l2v = 0; l2g = 0 }
  od
}
