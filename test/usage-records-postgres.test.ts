/** The mixed-workload usage records suite on a real PostgreSQL (see usage-workload.ts). */
import { describeMixedWorkload } from './usage-workload.ts';

describeMixedWorkload('postgres');
