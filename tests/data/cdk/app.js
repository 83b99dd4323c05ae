// A chat on a WebSocket API, as CDK's own WebSocketApi constructs declare it.
// Run by synth.sh, which installs the pinned aws-cdk-lib and constructs first.
'use strict';

const path = require('path');
const cdk = require('aws-cdk-lib');
const lambda = require('aws-cdk-lib/aws-lambda');
const apigwv2 = require('aws-cdk-lib/aws-apigatewayv2');
const { WebSocketLambdaIntegration } = require('aws-cdk-lib/aws-apigatewayv2-integrations');

class ChatStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const code = lambda.Code.fromAsset(path.join(__dirname, 'functions'));
    const handler = (name, entry) =>
      new lambda.Function(this, name, {
        runtime: lambda.Runtime.PYTHON_3_12,
        handler: entry,
        code,
        timeout: cdk.Duration.seconds(5),
      });
    const connect = handler('ConnectFunction', 'chat.on_connect');
    const disconnect = handler('DisconnectFunction', 'chat.on_disconnect');
    const send = handler('SendMessageFunction', 'chat.send_message');

    const api = new apigwv2.WebSocketApi(this, 'ChatApi', {
      apiName: 'cdk-chat',
      connectRouteOptions: { integration: new WebSocketLambdaIntegration('Connect', connect) },
      disconnectRouteOptions: {
        integration: new WebSocketLambdaIntegration('Disconnect', disconnect),
      },
    });
    api.addRoute('sendmessage', {
      integration: new WebSocketLambdaIntegration('SendMessage', send),
    });
    const stage = new apigwv2.WebSocketStage(this, 'DevStage', {
      webSocketApi: api,
      stageName: 'dev',
      autoDeploy: true,
    });
    api.grantManageConnections(send);
    send.addEnvironment('CALLBACK_URL', stage.callbackUrl);
    new cdk.CfnOutput(this, 'WebSocketUrl', { value: stage.url });
  }
}

const app = new cdk.App({
  outdir: process.env.CDK_OUTDIR || path.join(__dirname, 'cdk.out'),
  // What the CDK CLI turns on: each function's aws:asset:path, where its code is.
  context: { 'aws:cdk:enable-asset-metadata': true },
});
new ChatStack(app, 'ChatStack', {
  analyticsReporting: false,
  synthesizer: new cdk.DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
});
app.synth();
