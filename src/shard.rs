//! Sharded top-k through the parent of postgres_fdw partitions (issue 19, docs/scale-out.md).
//!
//! `SELECT ... FROM items ORDER BY embedding <=> $1 LIMIT 10` on a partitioned table whose partitions
//! are postgres_fdw foreign tables plans, in PostgreSQL itself, as
//! `Limit -> Merge Append -> Foreign Scan` (one per shard): every shard gets the `ORDER BY` but not
//! the `LIMIT` (postgres_fdw ships a LIMIT only for a query on one foreign table), and a Merge Append
//! asks the shards one after another. A planner hook rewrites that finished plan into
//! `Limit -> Sort -> Append -> Async Foreign Scan` with `LIMIT n` (n = the query's LIMIT + OFFSET, a
//! constant or the same parameters) added to every shard's remote query (and to the one remote query
//! of `Limit -> Foreign Scan`, when one partition is left, as after partition pruning): the best n of the union of
//! every shard's best n are the best n of all rows, so the answer is the same, each shard sends n
//! rows, and the shards work at the same time (when the server or table has
//! `async_capable 'true'` and `enable_async_append` is on).
//!
//! The rewrite applies only where it is exact: a `Limit` (no `WITH TIES`) right above a Merge Append
//! whose children are all postgres_fdw scans of one foreign table each, with the `ORDER BY` in their
//! remote SQL, no `LIMIT` there yet, no filter evaluated locally (it would drop rows after the remote
//! LIMIT), no row locks; the first sort key is a semvec distance operator; no run-time partition
//! pruning; not in a parallel plan. `semvec.shard_limit_pushdown = off` turns it off.

use crate::compat::list_ptrs as ptrs;
use crate::{compat, gucs};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::{c_char, c_int, CStr, CString};

static mut PREV_PLANNER: pg_sys::planner_hook_type = None;

/// The distance operators whose ORDER BY the rewrite ships (semvec's and pgvector's names).
const DISTANCE_OPERATORS: [&str; 6] = ["<->", "<=>", "<#>", "<+>", "<~>", "<%>"];

pub fn init() {
    // SAFETY: _PG_init runs once per backend, on its only thread, before any query is planned.
    unsafe {
        PREV_PLANNER = pg_sys::planner_hook;
        pg_sys::planner_hook = Some(semvec_planner);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn semvec_planner(
    parse: *mut pg_sys::Query,
    query_string: *const c_char,
    cursor_options: c_int,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    // SAFETY: the arguments are the planner's; the previous hook is a C function pointer that
    // Postgres gave us, called through the FFI guard.
    unsafe {
        let stmt = match PREV_PLANNER {
            Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| prev(parse, query_string, cursor_options, bound_params)),
            None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
        };
        if gucs::SHARD_LIMIT_PUSHDOWN.get()
            && !stmt.is_null()
            && (*stmt).commandType == pg_sys::CmdType::CMD_SELECT
            && !(*stmt).parallelModeNeeded
            && (*stmt).rowMarks.is_null()
        {
            rewrite_statement(stmt);
        }
        stmt
    }
}

/// Rewrites every `Limit -> Merge Append` of foreign scans in the statement's plan and subplans.
unsafe fn rewrite_statement(stmt: *mut pg_sys::PlannedStmt) {
    unsafe {
        // The new Sort's plan node id comes after the largest in the statement, found only when a
        // rewrite happens: most statements have nothing to rewrite and are walked once.
        let mut next_id = None;
        each_plan(stmt, &mut |p| {
            if (*p).type_ == pg_sys::NodeTag::T_Limit {
                rewrite_limit(stmt, p as *mut pg_sys::Limit, &mut next_id);
            }
        });
    }
}

/// Calls `f` on every plan node of the statement (the main tree and every subplan), parents first.
unsafe fn each_plan(stmt: *mut pg_sys::PlannedStmt, f: &mut dyn FnMut(*mut pg_sys::Plan)) {
    unsafe {
        walk(((*stmt).planTree).cast(), f);
        for sub in ptrs((*stmt).subplans) {
            walk(sub.cast(), f);
        }
    }
}

unsafe fn walk(plan: *mut pg_sys::Plan, f: &mut dyn FnMut(*mut pg_sys::Plan)) {
    if plan.is_null() {
        return;
    }
    unsafe {
        f(plan);
        // `f` may have replaced the children of `plan`: read them after it.
        walk((*plan).lefttree, f);
        walk((*plan).righttree, f);
        let children = match (*plan).type_ {
            pg_sys::NodeTag::T_Append => (*(plan as *mut pg_sys::Append)).appendplans,
            pg_sys::NodeTag::T_MergeAppend => (*(plan as *mut pg_sys::MergeAppend)).mergeplans,
            pg_sys::NodeTag::T_BitmapAnd => (*(plan as *mut pg_sys::BitmapAnd)).bitmapplans,
            pg_sys::NodeTag::T_BitmapOr => (*(plan as *mut pg_sys::BitmapOr)).bitmapplans,
            pg_sys::NodeTag::T_CustomScan => (*(plan as *mut pg_sys::CustomScan)).custom_plans,
            pg_sys::NodeTag::T_SubqueryScan => {
                walk((*(plan as *mut pg_sys::SubqueryScan)).subplan, f);
                std::ptr::null_mut()
            }
            _ => std::ptr::null_mut(),
        };
        for child in ptrs(children) {
            walk(child.cast(), f);
        }
    }
}

/// How the pushed-down LIMIT reads in every shard's remote SQL.
enum PushedLimit {
    /// A number known at plan time (the LIMIT and OFFSET constants).
    Constant(i64),
    /// Expressions evaluated at execution (parameters), added to each scan's `fdw_exprs`; the
    /// constant part is added to their sum.
    Runtime(Vec<*mut pg_sys::Node>, i64),
}

/// The LIMIT (and OFFSET) of `limit` as a count for the shards, if it can be shipped: constants,
/// or external parameters (prepared statements' `$n`, possibly under a cast).
unsafe fn pushed_limit(limit: *mut pg_sys::Limit) -> Option<PushedLimit> {
    unsafe {
        if (*limit).limitOption != pg_sys::LimitOption::LIMIT_OPTION_COUNT || (*limit).limitCount.is_null() {
            return None;
        }
        let mut exprs = Vec::new();
        let mut constant: i64 = 0;
        for expr in [(*limit).limitCount, (*limit).limitOffset] {
            if expr.is_null() {
                continue;
            }
            if (*expr).type_ == pg_sys::NodeTag::T_Const {
                let c = expr as *mut pg_sys::Const;
                if (*c).consttype != pg_sys::INT8OID {
                    return None;
                }
                if (*c).constisnull {
                    // LIMIT NULL (ALL): no limit to ship; OFFSET NULL: none to add.
                    if expr == (*limit).limitCount {
                        return None;
                    }
                    continue;
                }
                constant = constant.checked_add((*c).constvalue.value() as i64)?;
            } else if runtime_safe(expr) && pg_sys::exprType(expr) == pg_sys::INT8OID {
                exprs.push(expr);
            } else {
                return None;
            }
        }
        if exprs.is_empty() {
            Some(PushedLimit::Constant(constant))
        } else {
            Some(PushedLimit::Runtime(exprs, constant))
        }
    }
}

/// An external parameter, or a one-argument function (a cast) of one: what a scan's `fdw_exprs`
/// can evaluate at execution without any row or outer plan.
unsafe fn runtime_safe(expr: *mut pg_sys::Node) -> bool {
    unsafe {
        match (*expr).type_ {
            pg_sys::NodeTag::T_Param => (*(expr as *mut pg_sys::Param)).paramkind == pg_sys::ParamKind::PARAM_EXTERN,
            pg_sys::NodeTag::T_RelabelType => runtime_safe((*(expr as *mut pg_sys::RelabelType)).arg.cast()),
            pg_sys::NodeTag::T_FuncExpr => {
                let args = ptrs((*(expr as *mut pg_sys::FuncExpr)).args);
                args.len() == 1 && runtime_safe(args[0].cast())
            }
            _ => false,
        }
    }
}

/// The remote SQL of a postgres_fdw scan (the first item of its `fdw_private`), if it is one.
unsafe fn remote_sql(scan: *mut pg_sys::ForeignScan) -> Option<String> {
    unsafe {
        let server = pg_sys::GetForeignServer((*scan).fs_server);
        let fdw = pg_sys::GetForeignDataWrapper((*server).fdwid);
        if CStr::from_ptr((*fdw).fdwname).to_bytes() != b"postgres_fdw" {
            return None;
        }
        let private = ptrs((*scan).fdw_private);
        let first = *private.first()? as *mut pg_sys::Node;
        if first.is_null() || (*first).type_ != pg_sys::NodeTag::T_String {
            return None;
        }
        let sval = (*(first as *mut pg_sys::String)).sval;
        if sval.is_null() {
            return None;
        }
        Some(CStr::from_ptr(sval).to_string_lossy().into_owned())
    }
}

/// postgres_fdw's `async_capable` for a scan of `relid` on `server`: the table's option, else the
/// server's, else off.
unsafe fn async_capable(server: pg_sys::Oid, relid: pg_sys::Oid) -> bool {
    unsafe {
        let mut on = false;
        let lists = [
            (*pg_sys::GetForeignServer(server)).options,
            (*pg_sys::GetForeignTable(relid)).options,
        ];
        for list in lists {
            for def in ptrs(list) {
                let def = def as *mut pg_sys::DefElem;
                if CStr::from_ptr((*def).defname).to_bytes() == b"async_capable" {
                    on = pg_sys::defGetBoolean(def);
                }
            }
        }
        on
    }
}

/// Whether the first sort column of a Merge Append is a distance operator of its first child's
/// target list.
unsafe fn sorts_by_distance(ma: *mut pg_sys::MergeAppend, first_child: *mut pg_sys::Plan) -> bool {
    unsafe {
        if (*ma).numCols < 1 {
            return false;
        }
        let col = *(*ma).sortColIdx as usize;
        let tlist = ptrs((*first_child).targetlist);
        let Some(&tle) = col.checked_sub(1).and_then(|i| tlist.get(i)) else {
            return false;
        };
        let expr = (*(tle as *mut pg_sys::TargetEntry)).expr as *mut pg_sys::Node;
        if expr.is_null() || (*expr).type_ != pg_sys::NodeTag::T_OpExpr {
            return false;
        }
        let name = pg_sys::get_opname((*(expr as *mut pg_sys::OpExpr)).opno);
        !name.is_null() && DISTANCE_OPERATORS.iter().any(|op| CStr::from_ptr(name).to_bytes() == op.as_bytes())
    }
}

/// The scan and its remote SQL, if `plan` is a postgres_fdw scan of one foreign table that a LIMIT
/// can be added to: the ORDER BY shipped, nothing filtered locally, no LIMIT or row lock in its SQL
/// yet.
unsafe fn limitable_scan(plan: *mut std::ffi::c_void) -> Option<(*mut pg_sys::ForeignScan, String)> {
    unsafe {
        let scan = plan as *mut pg_sys::ForeignScan;
        if (*scan).scan.plan.type_ != pg_sys::NodeTag::T_ForeignScan
            || (*scan).scan.scanrelid == 0
            || !(*scan).scan.plan.qual.is_null()
            || (*scan).operation != pg_sys::CmdType::CMD_SELECT
        {
            return None;
        }
        let sql = remote_sql(scan)?;
        if !sql.contains(" ORDER BY ") || sql.contains(" LIMIT ") || sql.contains(" FOR UPDATE") || sql.contains(" FOR SHARE") {
            return None;
        }
        Some((scan, sql))
    }
}

/// Whether the first key of a remote SQL's ORDER BY is a distance operator
/// (`ORDER BY (embedding OPERATOR(public.<=>) ...) ASC`).
fn remote_sorts_by_distance(sql: &str) -> bool {
    let Some(at) = sql.find(" ORDER BY ") else {
        return false;
    };
    let rest = &sql[at + " ORDER BY ".len()..];
    let first_key = match (rest.find(" ASC"), rest.find(" DESC")) {
        (Some(a), Some(d)) => &rest[..a.min(d)],
        (Some(a), None) => &rest[..a],
        (None, Some(d)) => &rest[..d],
        (None, None) => return false,
    };
    first_key.find("OPERATOR(").is_some_and(|op| {
        let name = &first_key[op + "OPERATOR(".len()..];
        let name = name.split(')').next().unwrap_or("");
        let name = name.rsplit('.').next().unwrap_or("");
        DISTANCE_OPERATORS.contains(&name)
    })
}

/// Adds the LIMIT to a scan's remote SQL (and its parameters to the scan's `fdw_exprs`).
unsafe fn add_remote_limit(scan: *mut pg_sys::ForeignScan, sql: String, pushed: &PushedLimit) {
    unsafe {
        let suffix = match pushed {
            PushedLimit::Constant(n) => {
                if (*scan).scan.plan.plan_rows > *n as f64 {
                    (*scan).scan.plan.plan_rows = (*n).max(1) as f64;
                }
                format!(" LIMIT {n}::bigint")
            }
            PushedLimit::Runtime(exprs, constant) => {
                let mut terms = Vec::new();
                for &expr in exprs {
                    (*scan).fdw_exprs = pg_sys::lappend((*scan).fdw_exprs, pg_sys::copyObjectImpl(expr.cast()));
                    terms.push(format!("${}::bigint", (*(*scan).fdw_exprs).length));
                }
                if *constant != 0 {
                    terms.push(format!("{constant}::bigint"));
                }
                format!(" LIMIT ({})", terms.join(" + "))
            }
        };
        let new_sql = CString::new(sql + &suffix).expect("remote SQL has no NUL byte");
        let node = pg_sys::makeString(pg_sys::pstrdup(new_sql.as_ptr()));
        (*(*(*scan).fdw_private).elements).ptr_value = node.cast();
    }
}

/// `Limit -> Merge Append -> Foreign Scans` becomes `Limit -> Sort -> Append -> (Async) Foreign
/// Scans` with the LIMIT in every remote query, and `Limit -> Foreign Scan` (one partition left,
/// say after partition pruning) gets the LIMIT in its remote query, when that is exact (see the
/// module's comment).
unsafe fn rewrite_limit(stmt: *mut pg_sys::PlannedStmt, limit: *mut pg_sys::Limit, next_id: &mut Option<i32>) {
    unsafe {
        let child = (*limit).plan.lefttree;
        if child.is_null() {
            return;
        }
        if (*child).type_ == pg_sys::NodeTag::T_ForeignScan {
            if let (Some((scan, sql)), Some(pushed)) = (limitable_scan(child.cast()), pushed_limit(limit)) {
                if remote_sorts_by_distance(&sql) {
                    add_remote_limit(scan, sql, &pushed);
                }
            }
            return;
        }
        let ma = child as *mut pg_sys::MergeAppend;
        if (*ma).plan.type_ != pg_sys::NodeTag::T_MergeAppend || compat::merge_append_has_runtime_pruning(ma) {
            return;
        }
        let children = ptrs((*ma).mergeplans);
        if children.is_empty() || !sorts_by_distance(ma, children[0].cast()) {
            return;
        }
        let Some(pushed) = pushed_limit(limit) else {
            return;
        };
        let mut scans = Vec::with_capacity(children.len());
        for &child in &children {
            let Some(scan) = limitable_scan(child) else {
                return;
            };
            scans.push(scan);
        }

        let use_async = pg_sys::enable_async_append && scans.len() > 1;
        let mut nasync = 0;
        for (scan, sql) in scans {
            add_remote_limit(scan, sql, &pushed);
            if use_async {
                let relid = (*pg_sys::rt_fetch((*scan).scan.scanrelid, (*stmt).rtable)).relid;
                if async_capable((*scan).fs_server, relid) {
                    (*scan).scan.plan.async_capable = true;
                    nasync += 1;
                }
            }
        }

        // The Append takes the Merge Append's place (same children, same output); the Sort above
        // it takes the Merge Append's sort keys and sorts what the shards sent (a bounded sort: the
        // Limit tells it how many rows it needs).
        let append = pg_sys::palloc0(std::mem::size_of::<pg_sys::Append>()) as *mut pg_sys::Append;
        (*append).plan = (*ma).plan;
        (*append).plan.type_ = pg_sys::NodeTag::T_Append;
        (*append).plan.initPlan = std::ptr::null_mut();
        (*append).plan.targetlist = pg_sys::copyObjectImpl((*ma).plan.targetlist.cast()).cast();
        (*append).apprelids = (*ma).apprelids;
        (*append).appendplans = (*ma).mergeplans;
        (*append).nasyncplans = nasync;
        (*append).first_partial_plan = children.len() as c_int;
        compat::append_without_runtime_pruning(append);
        let sort = pg_sys::palloc0(std::mem::size_of::<pg_sys::Sort>()) as *mut pg_sys::Sort;
        (*sort).plan = (*ma).plan;
        (*sort).plan.type_ = pg_sys::NodeTag::T_Sort;
        let id = next_id.unwrap_or_else(|| {
            let mut max_id = 0;
            each_plan(stmt, &mut |p| max_id = max_id.max((*p).plan_node_id));
            max_id + 1
        });
        (*sort).plan.plan_node_id = id;
        *next_id = Some(id + 1);
        (*sort).plan.lefttree = append.cast();
        (*sort).plan.righttree = std::ptr::null_mut();
        (*sort).numCols = (*ma).numCols;
        (*sort).sortColIdx = (*ma).sortColIdx;
        (*sort).sortOperators = (*ma).sortOperators;
        (*sort).collations = (*ma).collations;
        (*sort).nullsFirst = (*ma).nullsFirst;
        let rows: f64 = children.iter().map(|&c| (*(c as *mut pg_sys::Plan)).plan_rows).sum();
        let cost: f64 = children.iter().map(|&c| (*(c as *mut pg_sys::Plan)).total_cost).sum();
        (*append).plan.plan_rows = rows;
        (*append).plan.total_cost = cost;
        (*sort).plan.plan_rows = rows;
        (*sort).plan.startup_cost = cost;
        (*sort).plan.total_cost = cost + rows * pg_sys::cpu_operator_cost;
        (*limit).plan.lefttree = sort.cast();
    }
}
