// Answers worked out once instead of on every planning pass. Every pass reads every node, and
// most of what it works out from a node (its parsed record, a version's label value, when a
// record was written) is the same as on the pass before.

/**
 * `compute` remembered per string. The strings come from the cluster (annotation values, node
 * names), so all answers are forgotten at once when `max` are held.
 */
export function memoizeByString<V>(compute: (key: string) => V, max: number): (key: string) => V {
  const answers = new Map<string, V>();
  return (key) => {
    let answer = answers.get(key);
    if (answer === undefined && !answers.has(key)) {
      if (answers.size >= max) answers.clear();
      answers.set(key, (answer = compute(key)));
    }
    return answer as V;
  };
}

/** `compute` remembered per object while it lives: for objects nothing changes once made (cached API objects, frozen records). */
export function memoizeByObject<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  const answers = new WeakMap<K, V>();
  return (key) => {
    let answer = answers.get(key);
    if (answer === undefined && !answers.has(key)) answers.set(key, (answer = compute(key)));
    return answer as V;
  };
}
