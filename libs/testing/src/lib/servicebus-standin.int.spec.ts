import { isServiceBusError, ServiceBusClient } from '@azure/service-bus';
import { startServiceBusStandIn, type ServiceBusStandIn } from './servicebus-standin';
import { waitFor } from './wait-for';

// The stand-in, driven by the real @azure/service-bus SDK: what a test of a Service Bus adapter relies on.
let standIn: ServiceBusStandIn;
let client: ServiceBusClient;
jest.setTimeout(20_000);

beforeAll(async () => {
  standIn = await startServiceBusStandIn({
    queues: ['jobs', { name: 'sessions', requiresSession: true }, { name: 'fragile', maxDeliveryCount: 2 }],
    topics: [{ name: 'events', subscriptions: ['a', 'b'] }],
  });
  client = new ServiceBusClient(standIn.connectionString, { retryOptions: { maxRetries: 0, timeoutInMs: 5_000 } });
});

afterAll(async () => {
  await client.close();
  await standIn.close();
});

describe('Service Bus stand-in with the real SDK', () => {
  it('keeps message properties, application properties and the body through a queue', async () => {
    const sender = client.createSender('jobs');
    await sender.sendMessages({
      body: { hello: 'world' },
      messageId: 'm-1',
      correlationId: 'c-1',
      contentType: 'application/json',
      subject: 'greeting',
      replyTo: 'answers',
      timeToLive: 60_000,
      applicationProperties: { MessageType: 'Greeting', attempt: 3, urgent: true },
    });
    const receiver = client.createReceiver('jobs');
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5_000 });

    expect(message).toMatchObject({
      body: { hello: 'world' },
      messageId: 'm-1',
      correlationId: 'c-1',
      contentType: 'application/json',
      subject: 'greeting',
      replyTo: 'answers',
      deliveryCount: 0,
      applicationProperties: { MessageType: 'Greeting', attempt: 3, urgent: true },
    });
    expect(message?.sequenceNumber?.toNumber()).toBeGreaterThan(0);
    expect(message?.lockedUntilUtc).toBeInstanceOf(Date);
    await receiver.completeMessage(message!);
    expect(standIn.messages('jobs')).toEqual([]);
    await receiver.close();
    await sender.close();
  });

  it('redelivers an abandoned message with a higher delivery count and dead-letters it past the maximum', async () => {
    const sender = client.createSender('fragile');
    await sender.sendMessages({ body: 'x', messageId: 'f-1' });
    const receiver = client.createReceiver('fragile');
    for (const expectedCount of [0, 1]) {
      const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
      expect(message?.deliveryCount).toBe(expectedCount);
      await receiver.abandonMessage(message!, { retriedBy: 'test' });
    }

    const dead = await waitFor(() => standIn.deadLetters('fragile')[0]);
    expect(dead).toMatchObject({ messageId: 'f-1', deadLetterReason: 'MaxDeliveryCountExceeded' });
    expect(dead.applicationProperties['retriedBy']).toBe('test');
    await receiver.close();
    await sender.close();
  });

  it('dead-letters with the reason and description the receiver gives, readable from the dead-letter queue', async () => {
    const sender = client.createSender('jobs');
    await sender.sendMessages({ body: 'poison', messageId: 'p-1' });
    const receiver = client.createReceiver('jobs');
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
    await receiver.deadLetterMessage(message!, {
      deadLetterReason: 'bad-input',
      deadLetterErrorDescription: 'not what we expected',
    });

    const dlq = client.createReceiver('jobs', { subQueueType: 'deadLetter' });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
    expect(dead).toMatchObject({
      messageId: 'p-1',
      deadLetterReason: 'bad-input',
      deadLetterErrorDescription: 'not what we expected',
      deadLetterSource: 'jobs',
    });
    await dlq.completeMessage(dead!);
    expect(standIn.deadLetters('jobs')).toEqual([]);
    await Promise.all([dlq.close(), receiver.close(), sender.close()]);
  });

  it('gives each session to one receiver, in order, and refuses a second receiver for a locked session', async () => {
    const sender = client.createSender('sessions');
    await sender.sendMessages([
      { body: 1, sessionId: 's-1' },
      { body: 'other', sessionId: 's-2' },
      { body: 2, sessionId: 's-1' },
    ]);
    const first = await client.acceptSession('sessions', 's-1');
    const messages = await first.receiveMessages(5, { maxWaitTimeInMs: 1_000 });
    expect(messages.map((m) => m.body)).toEqual([1, 2]);

    const second = client.acceptSession('sessions', 's-1');
    await expect(second).rejects.toMatchObject({ code: 'SessionCannotBeLocked' });

    const next = await client.acceptNextSession('sessions');
    expect(next.sessionId).toBe('s-2');
    await Promise.all(messages.map((m) => first.completeMessage(m)));
    await first.renewSessionLock();
    expect(standIn.managementCalls().map((c) => c.operation)).toContain('com.microsoft:renew-session-lock');
    await Promise.all([first.close(), next.close(), sender.close()]);
  });

  it('fans a topic message out to every subscription', async () => {
    const sender = client.createSender('events');
    await sender.sendMessages({ body: 'fan', messageId: 'e-1' });
    expect(standIn.messages('events/Subscriptions/a').map((m) => m.messageId)).toEqual(['e-1']);
    expect(standIn.messages('events/Subscriptions/b').map((m) => m.messageId)).toEqual(['e-1']);
    const receiver = client.createReceiver('events', 'b', { receiveMode: 'receiveAndDelete' });
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
    expect(message?.body).toBe('fan');
    expect(standIn.messages('events/Subscriptions/b')).toEqual([]);
    expect(standIn.messages('events/Subscriptions/a')).toHaveLength(1);
    await Promise.all([receiver.close(), sender.close()]);
  });

  it('refuses a token signed with another key and an unknown entity', async () => {
    const wrongKey = standIn.connectionString.replace(
      /SharedAccessKey=[^;]+/,
      `SharedAccessKey=${Buffer.from('wrong').toString('base64')}`,
    );
    const intruder = new ServiceBusClient(wrongKey, { retryOptions: { maxRetries: 0, timeoutInMs: 5_000 } });
    const refused = await intruder
      .createSender('jobs')
      .sendMessages({ body: 'x' })
      .catch((err: unknown) => err);
    expect(isServiceBusError(refused) ? refused.code : refused).toBe('UnauthorizedAccess');
    expect(standIn.tokenRequests().some((t) => !t.accepted && t.reason === 'signature does not match the key')).toBe(
      true,
    );
    await intruder.close();

    const missing = await client
      .createSender('no-such-queue')
      .sendMessages({ body: 'x' })
      .catch((err: unknown) => err);
    expect(isServiceBusError(missing) ? missing.code : missing).toBe('MessagingEntityNotFound');
  });

  it('keeps messages across stop and start on the same port, and clients recover', async () => {
    const sender = client.createSender('jobs');
    await sender.sendMessages({ body: 'before', messageId: 'k-1' });
    const port = standIn.port;

    await standIn.stop();
    await standIn.start();

    expect(standIn.port).toBe(port);
    expect(standIn.messages('jobs').map((m) => m.messageId)).toEqual(['k-1']);
    await waitFor(() => sender.sendMessages({ body: 'after', messageId: 'k-2' }).then(() => true), {
      timeoutMs: 15_000,
    });
    const receiver = client.createReceiver('jobs', { receiveMode: 'receiveAndDelete' });
    const messages = await receiver.receiveMessages(2, { maxWaitTimeInMs: 2_000 });
    expect(messages.map((m) => m.body)).toEqual(['before', 'after']);
    await Promise.all([receiver.close(), sender.close()]);
  });

  it('drops a message whose time to live ran out', async () => {
    const sender = client.createSender('jobs');
    await sender.sendMessages({ body: 'short-lived', messageId: 't-1', timeToLive: 1 });
    await sender.sendMessages({ body: 'durable', messageId: 't-2' });
    const receiver = client.createReceiver('jobs', { receiveMode: 'receiveAndDelete' });
    const messages = await receiver.receiveMessages(2, { maxWaitTimeInMs: 1_000 });
    expect(messages.map((m) => m.messageId)).toEqual(['t-2']);
    await Promise.all([receiver.close(), sender.close()]);
  });
});
