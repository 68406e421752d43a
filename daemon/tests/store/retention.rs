//! Retention of the record: history, closed alerts, comments and ended downtimes
//! older than `--keep-history` go; what is open or recent stays; alert ids are never
//! reused even when every alert was deleted.

use super::*;

/// Day `d` of the test, in minutes.
fn day(d: i64) -> i64 {
    d * DAY
}

#[test]
fn old_history_closed_alerts_comments_and_ended_downtimes_go_open_ones_stay() {
    let dir = Scratch::new("history-retention");
    let keep = Retention { history: Duration::from_secs(30 * 86_400), ..Retention::default() };
    let (store, _) = Store::open(StoreConfig { retention: keep, ..config(&dir.0) }).unwrap();
    let w = store.writer();
    let ix = CheckIx(1);
    let (crit, ok) = (Status::Critical, Status::Ok);
    // Day 0: an alert opened and closed, a comment, a downtime that ended; an alert
    // on another check that is still open.
    let alert = |id: u64, m: i64| Event::Alert {
        ix,
        at: at(m),
        alert_id: id,
        status: crit,
        output: "down".into(),
        covered_by: None,
        notify: true,
    };
    w.event(SVC, &Event::StateChange { ix, at: at(0), from: ok, to: crit, hard: true, attempt: 1 });
    w.event(SVC, &alert(7, 0));
    w.event(SVC, &Event::Recovery { ix, at: at(10), alert_id: 7, status: ok, notify: true });
    w.event("site/host/db", &alert(8, 5));
    block_on(w.comment(SVC, at(11), "bob", "old note")).unwrap();
    let dt = |from: i64, to: Option<i64>| NewDowntime {
        path: SVC.into(),
        from: at(from),
        to: to.map(at),
        period: None,
        comment: "patching".into(),
        by: "carol".into(),
        created: at(from),
    };
    block_on(w.add_downtime(dt(12, Some(72)))).unwrap();
    // Day 40: recent lines of each kind.
    w.event(SVC, &Event::StateChange { ix, at: at(day(40)), from: ok, to: crit, hard: false, attempt: 1 });
    block_on(w.comment(SVC, at(day(40)), "bob", "new note")).unwrap();
    let open_ended = block_on(w.add_downtime(dt(day(40), None))).unwrap();
    block_on(w.flush()).unwrap();

    let deleted = block_on(w.prune(at(day(40) + 1))).unwrap();
    let r = store.reader().unwrap();
    let kinds: Vec<_> = r.history(SVC, 100).unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["downtime", "comment", "state-change"], "only day 40's lines: {kinds:?}");
    let alerts: Vec<u64> = r.alerts(false, 10).unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(alerts, [8], "the open alert stays, the closed one goes");
    let notes: Vec<_> = r.comments(SVC).unwrap().into_iter().map(|c| c.text).collect();
    assert_eq!(notes, ["new note"]);
    let downtimes: Vec<u64> = r.downtimes(true, at(day(40) + 1)).unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(downtimes, [open_ended], "the ended downtime goes, the open-ended one stays");
    assert!(deleted >= 5, "{deleted}");

    // The last alert closes and ages out too: ids continue after it anyway.
    w.event("site/host/db", &Event::Recovery { ix, at: at(day(41)), alert_id: 8, status: ok, notify: true });
    block_on(w.flush()).unwrap();
    block_on(w.prune(at(day(80)))).unwrap();
    assert!(r.alerts(false, 10).unwrap().is_empty());
    store.close().unwrap();
    let (_, restored) = open(&dir.0);
    assert_eq!(restored.last_alert_id, 8);
}
