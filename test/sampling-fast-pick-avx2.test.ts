import { defineForcedSweepTest } from "./support/fast-pick-sweep.js";

defineForcedSweepTest("avx2");
