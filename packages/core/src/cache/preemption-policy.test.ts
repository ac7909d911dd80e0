import { describe, expect, test } from "vitest";
import { PreemptionCosts, choosePreemption, chooseVictim } from "./preemption-policy.js";

describe("preemption policy", () => {
  test("the victim is the latest arrival; a lone request is never preempted", () => {
    expect(chooseVictim([{ arrival: 3 }, { arrival: 9 }, { arrival: 5 }])).toEqual({ arrival: 9 });
    expect(chooseVictim([{ arrival: 3 }])).toBeUndefined();
    expect(chooseVictim([])).toBeUndefined();
  });

  test("a swap that does not fit the budget is never chosen, even when asked for", () => {
    const costs = new PreemptionCosts();
    expect(choosePreemption({ setting: "swap", stateBytes: 1000, recomputeTokens: 500, swapBytesFree: 999, costs })).toBe("recompute");
    expect(choosePreemption({ setting: "swap", stateBytes: 1000, recomputeTokens: 500, swapBytesFree: 1000, costs })).toBe("swap");
    expect(choosePreemption({ setting: "recompute", stateBytes: 1, recomputeTokens: 500, swapBytesFree: 1e9, costs })).toBe("recompute");
  });

  test("auto: the cheaper by measured rates — copying state out and back vs evaluating the tokens again", () => {
    const costs = new PreemptionCosts();
    // Unmeasured: swap (its cost does not grow with prefill length); nothing to recompute: recompute.
    expect(choosePreemption({ setting: "auto", stateBytes: 1e6, recomputeTokens: 100, swapBytesFree: 1e9, costs })).toBe("swap");
    expect(choosePreemption({ setting: "auto", stateBytes: 1e6, recomputeTokens: 0, swapBytesFree: 1e9, costs })).toBe("recompute");
    costs.recordPrefill(100, 50); // 0.5 ms a token
    costs.recordStateCopy(1e6, 1); // 1 ms a MB → 2 ms out and back
    expect(costs.recomputeMs(100)).toBe(50);
    expect(costs.swapMs(1e6)).toBe(2);
    expect(choosePreemption({ setting: "auto", stateBytes: 1e6, recomputeTokens: 100, swapBytesFree: 1e9, costs })).toBe("swap");
    expect(choosePreemption({ setting: "auto", stateBytes: 1e6, recomputeTokens: 2, swapBytesFree: 1e9, costs })).toBe("recompute");
    // A much slower copy (a big state on a slow bus) turns the choice.
    for (let i = 0; i < 50; i++) costs.recordStateCopy(1e6, 100);
    expect(choosePreemption({ setting: "auto", stateBytes: 1e6, recomputeTokens: 100, swapBytesFree: 1e9, costs })).toBe("recompute");
  });
});
