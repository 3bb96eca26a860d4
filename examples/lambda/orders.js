// orders.js: an SQS-triggered AWS Lambda function, written exactly as it
// is deployed (Node.js runtime, ReportBatchItemFailures on the mapping).
// It handles the orders of a batch and reports the ones it could not
// handle, so Lambda (or `lmq consume --event lambda
// --report-batch-item-failures`) deletes the rest and retries only those.
//
// Locally:
//   lmq consume --queue-url orders --event lambda \
//     --report-batch-item-failures --exec 'node run-node.js orders.handler'
'use strict';

const fs = require('fs');

exports.handler = async (event, context) => {
  const batchItemFailures = [];
  for (const record of event.Records) {
    try {
      const order = JSON.parse(record.body);
      if (!(order.qty > 0)) {
        throw new Error(`order ${order.orderId}: bad quantity ${order.qty}`);
      }
      console.log(`order ${order.orderId}: ${order.qty} item(s), ` +
                  `${context.getRemainingTimeInMillis()} ms left`);
      // Where the work would go; the tests read this log.
      if (process.env.ORDERS_LOG) {
        fs.appendFileSync(process.env.ORDERS_LOG, `${order.orderId}\n`);
      }
    } catch (err) {
      console.error(`${record.messageId}: ${err.message}`);
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
};
