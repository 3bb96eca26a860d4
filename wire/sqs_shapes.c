/*
 * sqs_shapes.c: the input and output shapes of every SQS action (API
 * 2012-11-05), as the service model describes them: JSON member names, and
 * the Query/XML names of flattened lists and maps (locationName). Both
 * codecs read these; nothing else in the wire layer knows a member name
 * except the action that uses it.
 *
 * Sources: botocore's sqs/2012-11-05/service-2.json (the JSON model, and
 * the Query-era model Debian's botocore 1.29 ships), SQS-SEMANTICS §6.
 */
#include "config.h"

#include "sqs_int.h"

#define END {NULL, NULL, NULL, 0}

const sqs_shape sqs_s_string = {ST_STRING, NULL, NULL, NULL, NULL};
const sqs_shape sqs_s_int = {ST_INT, NULL, NULL, NULL, NULL};
const sqs_shape sqs_s_long = {ST_LONG, NULL, NULL, NULL, NULL};
const sqs_shape sqs_s_bool = {ST_BOOL, NULL, NULL, NULL, NULL};
static const sqs_shape s_blob = {ST_BLOB, NULL, NULL, NULL, NULL};

#define S (&sqs_s_string)
#define I (&sqs_s_int)
#define L (&sqs_s_long)
#define B (&sqs_s_bool)

/* Lists of strings and blobs, and string maps. */
static const sqs_shape s_strlist = {ST_LIST, NULL, &sqs_s_string, NULL, NULL};
static const sqs_shape s_bloblist = {ST_LIST, NULL, &s_blob, NULL, NULL};
/* Queue attributes and system attributes: Attribute.N.Name / .Value. */
static const sqs_shape s_attrmap = {ST_MAP, NULL, &sqs_s_string, "Name",
                                   "Value"};
/* Tags: Tag.N.Key / .Value. */
static const sqs_shape s_tagmap = {ST_MAP, NULL, &sqs_s_string, "Key",
                                   "Value"};

/* MessageAttributeValue (user and system attributes). */
static const sqs_member m_mav[] = {
    {"StringValue", NULL, S, 0},
    {"BinaryValue", NULL, &s_blob, 0},
    {"StringListValues", "StringListValue", &s_strlist, 0},
    {"BinaryListValues", "BinaryListValue", &s_bloblist, 0},
    {"DataType", NULL, S, 1},
    END};
static const sqs_shape s_mav = {ST_STRUCT, m_mav, NULL, NULL, NULL};
static const sqs_shape s_mavmap = {ST_MAP, NULL, &s_mav, "Name", "Value"};

/* ---- inputs ------------------------------------------------------------ */

static const sqs_member m_add_permission[] = {
    {"QueueUrl", NULL, S, 1},
    {"Label", NULL, S, 1},
    {"AWSAccountIds", "AWSAccountId", &s_strlist, 1},
    {"Actions", "ActionName", &s_strlist, 1},
    END};
static const sqs_member m_cancel_task[] = {{"TaskHandle", NULL, S, 1}, END};
static const sqs_member m_change_vis[] = {
    {"QueueUrl", NULL, S, 1},
    {"ReceiptHandle", NULL, S, 1},
    {"VisibilityTimeout", NULL, I, 1},
    END};
static const sqs_member m_cvb_entry[] = {
    {"Id", NULL, S, 1},
    {"ReceiptHandle", NULL, S, 1},
    {"VisibilityTimeout", NULL, I, 0},
    END};
static const sqs_shape s_cvb_entry = {ST_STRUCT, m_cvb_entry, NULL, NULL,
                                      NULL};
static const sqs_shape s_cvb_entries = {ST_LIST, NULL, &s_cvb_entry, NULL,
                                        NULL};
static const sqs_member m_change_vis_batch[] = {
    {"QueueUrl", NULL, S, 1},
    {"Entries", "ChangeMessageVisibilityBatchRequestEntry", &s_cvb_entries,
     1},
    END};
static const sqs_member m_create_queue[] = {
    {"QueueName", NULL, S, 1},
    {"Attributes", "Attribute", &s_attrmap, 0},
    {"tags", "Tag", &s_tagmap, 0},
    END};
static const sqs_member m_delete_message[] = {
    {"QueueUrl", NULL, S, 1}, {"ReceiptHandle", NULL, S, 1}, END};
static const sqs_member m_dmb_entry[] = {
    {"Id", NULL, S, 1}, {"ReceiptHandle", NULL, S, 1}, END};
static const sqs_shape s_dmb_entry = {ST_STRUCT, m_dmb_entry, NULL, NULL,
                                      NULL};
static const sqs_shape s_dmb_entries = {ST_LIST, NULL, &s_dmb_entry, NULL,
                                        NULL};
static const sqs_member m_delete_message_batch[] = {
    {"QueueUrl", NULL, S, 1},
    {"Entries", "DeleteMessageBatchRequestEntry", &s_dmb_entries, 1},
    END};
static const sqs_member m_queue_only[] = {{"QueueUrl", NULL, S, 1}, END};
static const sqs_member m_get_queue_attributes[] = {
    {"QueueUrl", NULL, S, 1},
    {"AttributeNames", "AttributeName", &s_strlist, 0},
    END};
static const sqs_member m_get_queue_url[] = {
    {"QueueName", NULL, S, 1},
    {"QueueOwnerAWSAccountId", NULL, S, 0},
    END};
static const sqs_member m_list_dlq_sources[] = {
    {"QueueUrl", NULL, S, 1},
    {"NextToken", NULL, S, 0},
    {"MaxResults", NULL, I, 0},
    END};
static const sqs_member m_list_tasks[] = {
    {"SourceArn", NULL, S, 1}, {"MaxResults", NULL, I, 0}, END};
static const sqs_member m_list_queues[] = {
    {"QueueNamePrefix", NULL, S, 0},
    {"NextToken", NULL, S, 0},
    {"MaxResults", NULL, I, 0},
    END};
static const sqs_member m_receive[] = {
    {"QueueUrl", NULL, S, 1},
    {"AttributeNames", "AttributeName", &s_strlist, 0},
    {"MessageSystemAttributeNames", "MessageSystemAttributeName", &s_strlist,
     0},
    {"MessageAttributeNames", "MessageAttributeName", &s_strlist, 0},
    {"MaxNumberOfMessages", NULL, I, 0},
    {"VisibilityTimeout", NULL, I, 0},
    {"WaitTimeSeconds", NULL, I, 0},
    {"ReceiveRequestAttemptId", NULL, S, 0},
    END};
static const sqs_member m_remove_permission[] = {
    {"QueueUrl", NULL, S, 1}, {"Label", NULL, S, 1}, END};
static const sqs_member m_send[] = {
    {"QueueUrl", NULL, S, 1},
    {"MessageBody", NULL, S, 1},
    {"DelaySeconds", NULL, I, 0},
    {"MessageAttributes", "MessageAttribute", &s_mavmap, 0},
    {"MessageSystemAttributes", "MessageSystemAttribute", &s_mavmap, 0},
    {"MessageDeduplicationId", NULL, S, 0},
    {"MessageGroupId", NULL, S, 0},
    END};
static const sqs_member m_smb_entry[] = {
    {"Id", NULL, S, 1},
    {"MessageBody", NULL, S, 1},
    {"DelaySeconds", NULL, I, 0},
    {"MessageAttributes", "MessageAttribute", &s_mavmap, 0},
    {"MessageSystemAttributes", "MessageSystemAttribute", &s_mavmap, 0},
    {"MessageDeduplicationId", NULL, S, 0},
    {"MessageGroupId", NULL, S, 0},
    END};
static const sqs_shape s_smb_entry = {ST_STRUCT, m_smb_entry, NULL, NULL,
                                      NULL};
static const sqs_shape s_smb_entries = {ST_LIST, NULL, &s_smb_entry, NULL,
                                        NULL};
static const sqs_member m_send_batch[] = {
    {"QueueUrl", NULL, S, 1},
    {"Entries", "SendMessageBatchRequestEntry", &s_smb_entries, 1},
    END};
static const sqs_member m_set_queue_attributes[] = {
    {"QueueUrl", NULL, S, 1},
    {"Attributes", "Attribute", &s_attrmap, 1},
    END};
static const sqs_member m_start_task[] = {
    {"SourceArn", NULL, S, 1},
    {"DestinationArn", NULL, S, 0},
    {"MaxNumberOfMessagesPerSecond", NULL, I, 0},
    END};
static const sqs_member m_tag_queue[] = {
    {"QueueUrl", NULL, S, 1}, {"Tags", "Tag", &s_tagmap, 1}, END};
static const sqs_member m_untag_queue[] = {
    {"QueueUrl", NULL, S, 1}, {"TagKeys", "TagKey", &s_strlist, 1}, END};

#define STRUCT(m) {ST_STRUCT, m, NULL, NULL, NULL}
const sqs_shape sqs_in_add_permission = STRUCT(m_add_permission);
const sqs_shape sqs_in_cancel_task = STRUCT(m_cancel_task);
const sqs_shape sqs_in_change_vis = STRUCT(m_change_vis);
const sqs_shape sqs_in_change_vis_batch = STRUCT(m_change_vis_batch);
const sqs_shape sqs_in_create_queue = STRUCT(m_create_queue);
const sqs_shape sqs_in_delete_message = STRUCT(m_delete_message);
const sqs_shape sqs_in_delete_message_batch = STRUCT(m_delete_message_batch);
const sqs_shape sqs_in_queue_only = STRUCT(m_queue_only);
const sqs_shape sqs_in_get_queue_attributes = STRUCT(m_get_queue_attributes);
const sqs_shape sqs_in_get_queue_url = STRUCT(m_get_queue_url);
const sqs_shape sqs_in_list_dlq_sources = STRUCT(m_list_dlq_sources);
const sqs_shape sqs_in_list_tasks = STRUCT(m_list_tasks);
const sqs_shape sqs_in_list_queues = STRUCT(m_list_queues);
const sqs_shape sqs_in_receive = STRUCT(m_receive);
const sqs_shape sqs_in_remove_permission = STRUCT(m_remove_permission);
const sqs_shape sqs_in_send = STRUCT(m_send);
const sqs_shape sqs_in_send_batch = STRUCT(m_send_batch);
const sqs_shape sqs_in_set_queue_attributes = STRUCT(m_set_queue_attributes);
const sqs_shape sqs_in_start_task = STRUCT(m_start_task);
const sqs_shape sqs_in_tag_queue = STRUCT(m_tag_queue);
const sqs_shape sqs_in_untag_queue = STRUCT(m_untag_queue);

/* ---- outputs ----------------------------------------------------------- */

static const sqs_shape s_urllist = {ST_LIST, NULL, &sqs_s_string, NULL, NULL};

static const sqs_member m_queue_url_out[] = {{"QueueUrl", NULL, S, 0}, END};
static const sqs_member m_list_queues_out[] = {
    {"QueueUrls", "QueueUrl", &s_urllist, 0},
    {"NextToken", NULL, S, 0},
    END};
static const sqs_member m_list_dlq_out[] = {
    {"queueUrls", "QueueUrl", &s_urllist, 1},
    {"NextToken", NULL, S, 0},
    END};
static const sqs_member m_attrs_out[] = {
    {"Attributes", "Attribute", &s_attrmap, 0}, END};
static const sqs_member m_tags_out[] = {{"Tags", "Tag", &s_tagmap, 0}, END};
static const sqs_member m_send_out[] = {
    {"MD5OfMessageBody", NULL, S, 0},
    {"MD5OfMessageAttributes", NULL, S, 0},
    {"MD5OfMessageSystemAttributes", NULL, S, 0},
    {"MessageId", NULL, S, 0},
    {"SequenceNumber", NULL, S, 0},
    END};
static const sqs_member m_smb_ok[] = {
    {"Id", NULL, S, 1},
    {"MessageId", NULL, S, 1},
    {"MD5OfMessageBody", NULL, S, 1},
    {"MD5OfMessageAttributes", NULL, S, 0},
    {"MD5OfMessageSystemAttributes", NULL, S, 0},
    {"SequenceNumber", NULL, S, 0},
    END};
static const sqs_shape s_smb_ok = STRUCT(m_smb_ok);
static const sqs_shape s_smb_oks = {ST_LIST, NULL, &s_smb_ok, NULL, NULL};
static const sqs_member m_batch_err[] = {
    {"Id", NULL, S, 1},
    {"SenderFault", NULL, B, 1},
    {"Code", NULL, S, 1},
    {"Message", NULL, S, 0},
    END};
static const sqs_shape s_batch_err = STRUCT(m_batch_err);
static const sqs_shape s_batch_errs = {ST_LIST, NULL, &s_batch_err, NULL,
                                       NULL};
static const sqs_member m_send_batch_out[] = {
    {"Successful", "SendMessageBatchResultEntry", &s_smb_oks, 1},
    {"Failed", "BatchResultErrorEntry", &s_batch_errs, 1},
    END};
static const sqs_member m_id_only[] = {{"Id", NULL, S, 1}, END};
static const sqs_shape s_id_only = STRUCT(m_id_only);
static const sqs_shape s_id_onlys = {ST_LIST, NULL, &s_id_only, NULL, NULL};
static const sqs_member m_delete_batch_out[] = {
    {"Successful", "DeleteMessageBatchResultEntry", &s_id_onlys, 1},
    {"Failed", "BatchResultErrorEntry", &s_batch_errs, 1},
    END};
static const sqs_member m_change_batch_out[] = {
    {"Successful", "ChangeMessageVisibilityBatchResultEntry", &s_id_onlys, 1},
    {"Failed", "BatchResultErrorEntry", &s_batch_errs, 1},
    END};
static const sqs_member m_message[] = {
    {"MessageId", NULL, S, 0},
    {"ReceiptHandle", NULL, S, 0},
    {"MD5OfBody", NULL, S, 0},
    {"Body", NULL, S, 0},
    {"Attributes", "Attribute", &s_attrmap, 0},
    {"MD5OfMessageAttributes", NULL, S, 0},
    {"MessageAttributes", "MessageAttribute", &s_mavmap, 0},
    END};
static const sqs_shape s_message = STRUCT(m_message);
static const sqs_shape s_messages = {ST_LIST, NULL, &s_message, NULL, NULL};
static const sqs_member m_receive_out[] = {
    {"Messages", "Message", &s_messages, 0}, END};
static const sqs_member m_start_task_out[] = {
    {"TaskHandle", NULL, S, 0}, END};
static const sqs_member m_cancel_task_out[] = {
    {"ApproximateNumberOfMessagesMoved", NULL, L, 0}, END};
static const sqs_member m_task[] = {
    {"TaskHandle", NULL, S, 0},
    {"Status", NULL, S, 0},
    {"SourceArn", NULL, S, 0},
    {"DestinationArn", NULL, S, 0},
    {"MaxNumberOfMessagesPerSecond", NULL, I, 0},
    {"ApproximateNumberOfMessagesMoved", NULL, L, 0},
    {"ApproximateNumberOfMessagesToMove", NULL, L, 0},
    {"FailureReason", NULL, S, 0},
    {"StartedTimestamp", NULL, L, 0},
    END};
static const sqs_shape s_task = STRUCT(m_task);
static const sqs_shape s_tasks = {ST_LIST, NULL, &s_task, NULL, NULL};
static const sqs_member m_list_tasks_out[] = {
    {"Results", "ListMessageMoveTasksResultEntry", &s_tasks, 0}, END};

const sqs_shape sqs_out_queue_url = STRUCT(m_queue_url_out);
const sqs_shape sqs_out_list_queues = STRUCT(m_list_queues_out);
const sqs_shape sqs_out_list_dlq = STRUCT(m_list_dlq_out);
const sqs_shape sqs_out_attrs = STRUCT(m_attrs_out);
const sqs_shape sqs_out_tags = STRUCT(m_tags_out);
const sqs_shape sqs_out_send = STRUCT(m_send_out);
const sqs_shape sqs_out_send_batch = STRUCT(m_send_batch_out);
const sqs_shape sqs_out_delete_batch = STRUCT(m_delete_batch_out);
const sqs_shape sqs_out_change_batch = STRUCT(m_change_batch_out);
const sqs_shape sqs_out_receive = STRUCT(m_receive_out);
const sqs_shape sqs_out_start_task = STRUCT(m_start_task_out);
const sqs_shape sqs_out_cancel_task = STRUCT(m_cancel_task_out);
const sqs_shape sqs_out_list_tasks = STRUCT(m_list_tasks_out);
