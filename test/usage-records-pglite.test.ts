/** The mixed-workload usage records suite on the embedded database (see usage-workload.ts). */
import { describeMixedWorkload } from './usage-workload.ts';

describeMixedWorkload('pglite');
