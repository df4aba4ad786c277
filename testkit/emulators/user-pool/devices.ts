/**
 * Remembered devices: ConfirmDevice stores a device's SRP verifier (from the
 * NewDeviceMetadata of a sign-in), UpdateDeviceStatus remembers or forgets it,
 * ForgetDevice removes it. A remembered device then signs in with DEVICE_SRP_AUTH.
 */
import { isPlainObject } from '../aws-json-protocol.js';
import { optionalString, requireString, UserPoolFault, type Input } from './api-protocol.js';
import type { DeviceState, UserState } from './directory.js';
import { deviceVerifierFromConfig } from './srp-server.js';
import type { TokenService } from './token-service.js';

export class DeviceOperations {
  constructor(
    private readonly tokens: TokenService,
    /** ConfirmDevice answers UserConfirmationNecessary; the device is remembered only after UpdateDeviceStatus. */
    private readonly deviceUserPrompt: boolean,
  ) {}

  async confirmDevice(input: Input): Promise<{ UserConfirmationNecessary: boolean }> {
    const { user } = await this.tokens.requireAccessToken(input);
    const device = this.requireDevice(user, requireString(input, 'DeviceKey'));
    const config = input['DeviceSecretVerifierConfig'];
    const verifier = isPlainObject(config) && typeof config['PasswordVerifier'] === 'string' && typeof config['Salt'] === 'string'
      ? deviceVerifierFromConfig(config['PasswordVerifier'], config['Salt'])
      : undefined;
    if (!verifier) throw new UserPoolFault('InvalidParameterException', 'DeviceSecretVerifierConfig needs a PasswordVerifier and a Salt.');
    device.verifier = verifier;
    device.confirmed = true;
    device.remembered = !this.deviceUserPrompt;
    const name = optionalString(input, 'DeviceName');
    if (name !== undefined) device.name = name;
    return { UserConfirmationNecessary: this.deviceUserPrompt };
  }

  async updateDeviceStatus(input: Input): Promise<Record<string, never>> {
    const { user } = await this.tokens.requireAccessToken(input);
    const device = this.requireDevice(user, requireString(input, 'DeviceKey'));
    const status = optionalString(input, 'DeviceRememberedStatus');
    if (status !== undefined && status !== 'remembered' && status !== 'not_remembered') {
      throw new UserPoolFault('InvalidParameterException', `DeviceRememberedStatus must be remembered or not_remembered.`);
    }
    device.remembered = status === 'remembered';
    return {};
  }

  async forgetDevice(input: Input): Promise<Record<string, never>> {
    const { user } = await this.tokens.requireAccessToken(input);
    const deviceKey = requireString(input, 'DeviceKey');
    this.requireDevice(user, deviceKey);
    user.devices.delete(deviceKey);
    return {};
  }

  private requireDevice(user: UserState, deviceKey: string): DeviceState {
    const device = user.devices.get(deviceKey);
    if (!device) throw new UserPoolFault('ResourceNotFoundException', 'Device does not exist.');
    return device;
  }
}
