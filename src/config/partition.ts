/** An AWS partition: the `arn:PARTITION:` of its ARNs and the DNS suffix of its endpoints. */
export interface Partition {
  readonly name: 'aws' | 'aws-cn' | 'aws-us-gov';
  readonly dnsSuffix: 'amazonaws.com' | 'amazonaws.com.cn';
}

/**
 * The partition of a region: cn-north-1 and cn-northwest-1 (Beijing, Ningxia) are the China
 * partition, reached at amazonaws.com.cn with arn:aws-cn: ARNs; us-gov-* is GovCloud.
 */
export function partitionOf(region: string): Partition {
  if (region.startsWith('cn-')) return { name: 'aws-cn', dnsSuffix: 'amazonaws.com.cn' };
  if (region.startsWith('us-gov-')) return { name: 'aws-us-gov', dnsSuffix: 'amazonaws.com' };
  return { name: 'aws', dnsSuffix: 'amazonaws.com' };
}
