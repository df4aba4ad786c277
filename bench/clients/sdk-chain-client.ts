/**
 * A new process getting AWS credentials the way every tool with the JS SDK does: the
 * default provider chain, which finds AWS_CONTAINER_CREDENTIALS_FULL_URI and asks the
 * broker. Prints `CREDENTIALS <first 4 characters of the key id>` once it has them.
 */
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';

const credentials = await fromNodeProviderChain()();
process.stdout.write(`CREDENTIALS ${credentials.accessKeyId.slice(0, 4)}\n`);
