//! The exclusion graph of time periods: finding cycles, and flattening each
//! period's exclusion tree into an evaluation order. Indices only: no time here.

#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) period: usize,
    /// Positions in the same tree, all before this node's.
    pub(super) excludes: Vec<usize>,
}

/// A cycle in the exclusion graph, as a path of indices whose first and last are
/// the same, or `None`. Iterative, so deep chains cannot overflow the stack.
pub(super) fn find_cycle(excludes: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    // Indexing `mark` is in bounds: `root` ranges over the list, `child` has just
    // been looked up with `get`, and every `node` on the path was one of those.
    let mut mark = vec![Mark::New; excludes.len()];
    for root in 0..excludes.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // (period, how many of its excludes have been followed)
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnPath;
        while let Some(top) = path.last_mut() {
            let (node, next) = *top;
            match excludes.get(node).and_then(|e| e.get(next)).copied() {
                Some(child) => {
                    top.1 += 1;
                    match mark.get(child).copied() {
                        Some(Mark::New) => {
                            mark[child] = Mark::OnPath;
                            path.push((child, 0));
                        }
                        Some(Mark::OnPath) => {
                            let from = path.iter().position(|&(p, _)| p == child).unwrap_or(0);
                            let mut cycle: Vec<usize> = path[from..].iter().map(|&(p, _)| p).collect();
                            cycle.push(child);
                            return Some(cycle);
                        }
                        _ => {}
                    }
                }
                None => {
                    mark[node] = Mark::Done;
                    path.pop();
                }
            }
        }
    }
    None
}

/// The exclusion tree of `root`: it and everything it excludes, transitively, each
/// once, every period after the ones it excludes (so `root` is last). Requires an
/// acyclic graph; `find_cycle` has been checked first.
pub(super) fn build_tree(root: usize, excludes: &[Vec<usize>]) -> Vec<Node> {
    let mut position: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
    while let Some(top) = stack.last_mut() {
        let (period, next) = *top;
        let children = excludes.get(period).map_or(&[][..], Vec::as_slice);
        match children.get(next).copied() {
            Some(child) => {
                top.1 += 1;
                if !position.contains_key(&child) {
                    stack.push((child, 0));
                }
            }
            None => {
                stack.pop();
                let excludes = children.iter().filter_map(|c| position.get(c).copied()).collect();
                position.insert(period, nodes.len());
                nodes.push(Node { period, excludes });
            }
        }
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles() {
        let table: [(&[&[usize]], Option<&[usize]>); 6] = [
            (&[&[1], &[0]], Some(&[0, 1, 0])),
            (&[&[0]], Some(&[0, 0])),
            (&[&[], &[2], &[3], &[2]], Some(&[2, 3, 2])),
            (&[&[1, 2], &[2], &[]], None),
            (&[&[1], &[2], &[3], &[0]], Some(&[0, 1, 2, 3, 0])),
            (&[], None),
        ];
        for (graph, expected) in table {
            let graph: Vec<Vec<usize>> = graph.iter().map(|e| e.to_vec()).collect();
            assert_eq!(find_cycle(&graph).as_deref(), expected, "{graph:?}");
        }
    }

    /// A chain far deeper than any stack would allow for recursion.
    #[test]
    fn deep_chain() {
        let n = 200_000;
        let mut graph: Vec<Vec<usize>> = (0..n).map(|i| vec![i + 1]).collect();
        graph[n - 1] = vec![];
        assert_eq!(find_cycle(&graph), None);
        assert_eq!(build_tree(0, &graph).len(), n);
        graph[n - 1] = vec![0];
        assert_eq!(find_cycle(&graph).map(|c| c.len()), Some(n + 1));
    }

    #[test]
    fn trees() {
        // (graph, root, expected nodes as (period, exclude positions))
        let table: [(&[&[usize]], usize, &[(usize, &[usize])]); 4] = [
            (&[&[]], 0, &[(0, &[])]),
            (&[&[1], &[2], &[]], 0, &[(2, &[]), (1, &[0]), (0, &[1])]),
            // A diamond: 3 is shared and appears once.
            (&[&[1, 2], &[3], &[3], &[]], 0, &[(3, &[]), (1, &[0]), (2, &[0]), (0, &[1, 2])]),
            (&[&[1, 2], &[3], &[3], &[]], 2, &[(3, &[]), (2, &[0])]),
        ];
        for (graph, root, expected) in table {
            let graph: Vec<Vec<usize>> = graph.iter().map(|e| e.to_vec()).collect();
            let got: Vec<(usize, Vec<usize>)> =
                build_tree(root, &graph).into_iter().map(|n| (n.period, n.excludes)).collect();
            let expected: Vec<(usize, Vec<usize>)> = expected.iter().map(|(p, e)| (*p, e.to_vec())).collect();
            assert_eq!(got, expected, "{graph:?} from {root}");
        }
    }
}
