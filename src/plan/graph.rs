//! The dependency graph of a plan: cycles, which tasks may run at the same
//! time (neither reaches the other), and waves.
//!
//! Tasks are indices into the plan's task list; `deps[i]` lists the tasks
//! task `i` waits for. Every function expects deps that name real tasks.

/// Every cycle as a list of task indices, first task repeated at the end
/// (`a -> b -> a`). Each cycle is reported once.
pub fn cycles(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let n = deps.len();
    let mut mark = vec![Mark::New; n];
    let mut found: Vec<Vec<usize>> = Vec::new();
    for root in 0..n {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next dependency to visit).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnStack;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&dep) = deps[node].get(*next) {
                *next += 1;
                match mark[dep] {
                    Mark::New => {
                        mark[dep] = Mark::OnStack;
                        stack.push((dep, 0));
                    }
                    Mark::OnStack => {
                        let start = stack.iter().position(|&(t, _)| t == dep).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[start..].iter().map(|&(t, _)| t).collect();
                        cycle.push(dep);
                        if !found.iter().any(|c| same_cycle(c, &cycle)) {
                            found.push(cycle);
                        }
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    found
}

fn same_cycle(a: &[usize], b: &[usize]) -> bool {
    let (a, b) = (&a[..a.len() - 1], &b[..b.len() - 1]);
    a.len() == b.len() && (0..a.len()).any(|shift| (0..a.len()).all(|i| a[(i + shift) % a.len()] == b[i]))
}

/// A set of task indices as a bitset.
#[derive(Clone)]
pub struct TaskSet(Vec<u64>);

impl TaskSet {
    fn new(n: usize) -> Self {
        TaskSet(vec![0; n.div_ceil(64)])
    }
    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    pub fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn union_with(&mut self, other: &TaskSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}

/// The layering of an acyclic graph: `wave[i]` is 0 for tasks without
/// dependencies, else one more than the latest wave among its dependencies.
/// Also returns every task's transitive dependencies.
pub fn waves(deps: &[Vec<usize>]) -> (Vec<usize>, Vec<TaskSet>) {
    let n = deps.len();
    let order = topological_order(deps);
    let mut wave = vec![0; n];
    let mut ancestors = vec![TaskSet::new(n); n];
    for &t in &order {
        let mut set = TaskSet::new(n);
        for &d in &deps[t] {
            wave[t] = wave[t].max(wave[d] + 1);
            set.insert(d);
            set.union_with(&ancestors[d]);
        }
        ancestors[t] = set;
    }
    (wave, ancestors)
}

/// Dependencies before dependents; ties in plan order.
fn topological_order(deps: &[Vec<usize>]) -> Vec<usize> {
    let n = deps.len();
    let mut dependents = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    for (t, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(t);
        }
    }
    let mut ready: std::collections::VecDeque<usize> = (0..n).filter(|&t| waiting[t] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(t) = ready.pop_front() {
        order.push(t);
        for &u in &dependents[t] {
            waiting[u] -= 1;
            if waiting[u] == 0 {
                ready.push_back(u);
            }
        }
    }
    order
}

/// Whether tasks `a` and `b` may run at the same time.
pub fn concurrent(ancestors: &[TaskSet], a: usize, b: usize) -> bool {
    a != b && !ancestors[a].contains(b) && !ancestors[b].contains(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_cycle_once() {
        // 0 -> 1 -> 0, and 2 -> 2
        let deps = vec![vec![1], vec![0], vec![2], vec![0]];
        let c = cycles(&deps);
        assert_eq!(c, vec![vec![0, 1, 0], vec![2, 2]]);
    }

    #[test]
    fn layers_and_reachability() {
        // 0, 1 independent; 2 after both; 3 after 2
        let deps = vec![vec![], vec![], vec![0, 1], vec![2]];
        assert!(cycles(&deps).is_empty());
        let (wave, anc) = waves(&deps);
        assert_eq!(wave, vec![0, 0, 1, 2]);
        assert!(concurrent(&anc, 0, 1));
        assert!(!concurrent(&anc, 0, 3));
        assert!(!concurrent(&anc, 3, 1));
    }
}
