/** The cluster's options are the broker's (`BrokerOptions.cluster`): see broker/cluster-options.ts. */
export type { ClusterOptions } from '../broker/cluster-options.js'
